"""``python -m obandits.cot.bu2025 authors LOGDIR OUTDIR`` (parse runs of the authors' script)
and ``python -m obandits.cot.bu2025 doc SWEEP_DIR [DOC]`` (rewrite ``docs/bu2025.md``)."""

import sys

from .authors import collect
from .preset import write_doc

if len(sys.argv) == 4 and sys.argv[1] == "authors":
    print(collect(sys.argv[2], sys.argv[3]))
elif len(sys.argv) in (3, 4) and sys.argv[1] == "doc":
    print(write_doc(*sys.argv[2:]))
else:
    sys.exit("usage: python -m obandits.cot.bu2025 authors LOGDIR OUTDIR\n"
             "       python -m obandits.cot.bu2025 doc SWEEP_DIR [DOC]")
