"""`python -m sagemaker_openai.cli`: the same as the `sagemaker-openai` command."""

from . import main

raise SystemExit(main())
