import sys

if "--no-hiredis" in sys.argv[1:]:
    sys.modules["hiredis"] = None  # type: ignore[assignment]  # before redis is imported: as if not installed

from benchmarks.run import main  # noqa: E402

raise SystemExit(main())
