"""Few-step diffusion styles (SD-Turbo class img2img) on diffusers, an optional extra.

``folder`` checks and loads a local diffusers folder; ``sampler`` holds the step arithmetic;
``stage`` runs it per frame for one stream, from its parts: ``options`` (settings and live
changes), ``live`` (prompt, strength, seed and the noise and timesteps they fix), ``similar``
(the similarity filter), ``denoise`` (the UNet and the denoising loops). Import diffusers only
through ``folder``.
"""
