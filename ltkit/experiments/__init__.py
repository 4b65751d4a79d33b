"""The experiments: one module each, every one registered once as (settings, run, result), sized by the
profiles, trained by the engine and cached by the store."""
