"""`python -m lb.bench [options]`: the same as `lb bench [options]`."""
import sys

from lb.bench import main

sys.exit(main(sys.argv[1:]))
