import sys

from hft_console.cli.main import main

sys.exit(main())
