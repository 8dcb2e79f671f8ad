from univlm.cli import main

raise SystemExit(main())
