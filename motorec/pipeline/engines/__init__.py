"""Alternative execution engines for `motorec tokenize` (the local engine lives in `motorec.pipeline.job`)."""
