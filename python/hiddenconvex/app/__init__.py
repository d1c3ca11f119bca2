"""The ``hiddenconvex`` application: the command line, the demo, the report on user data and its
HTML page. It uses the public library like any user would; the library never imports it."""
