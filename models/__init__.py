"""livefx models: one module per model family, all speaking the stage contract."""
