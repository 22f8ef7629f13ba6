"""Where a running lb's desired state comes from: the manifest files (files.py, watched
by watch.py). Each source hands lb.control a new Snapshot (or overlay) to apply."""
