"""Test helpers shipped with the library (as trio does): temp roots, busybox bundles,
and the end-of-suite leak check.  Nothing here is used by seabox at run time."""
