"""Load tests for livehub (scripts, not pytest tests). See ``loadtests/README.md``."""
