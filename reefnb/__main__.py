import sys

from reefnb.frontends.cli import main

sys.exit(main())
