#!/usr/bin/env python3
"""Upload an XGBoost model to the cluster's LTR plugin: exactly `es-ltrr upload-model`.

    scripts/upload_model.py MODEL_FILE --cluster URL [--name N] [--activate] [--json]

No logic of its own: the command (es_ltrr/cli/ops.py) and es_ltrr/ranking/ltr/upload.py do the work.
"""

import sys

from es_ltrr.cli.group import run_alone
from es_ltrr.cli.ops import upload_model

if __name__ == "__main__":
    run_alone(upload_model, sys.argv[1:], prog_name="upload_model.py")
