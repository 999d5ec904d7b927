"""`python -m blobcalc`: the same as the `blobcalc` command."""
from blobcalc.cli import main_entry

main_entry()
