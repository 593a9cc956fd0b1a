import sys

from dasb.cli import main

sys.exit(main())
