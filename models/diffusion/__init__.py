"""Few-step diffusion styles (SD-Turbo class img2img) on diffusers, an optional extra.

``folder`` checks and loads a local diffusers folder; ``sampler`` holds the step arithmetic;
``stage`` runs it per frame for one stream. Import diffusers only through ``folder``.
"""
