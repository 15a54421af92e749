"""Storage and provenance: where computed things are kept and how a result knows where it came from.

* ``cache``: the cache folder (``$UNLEARNKIT_CACHE``) and atomic writes of files and folders;
* ``codehash``: the digest of the code that computes a cached number (a module's import closure);
* ``results``: the results cache, one JSON record per computation keyed by its config and code;
* ``records``: the typed record of one unlearning run (:class:`records.RunRecord`);
* ``origin``: the commit and machine a result was made on.

This package stores and describes; it computes no number of the book and imports nothing of the
rest of the package (so every layer may use it).
"""
