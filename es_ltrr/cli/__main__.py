"""`python -m es_ltrr.cli`: the es-ltrr command line."""

from . import main

main()
