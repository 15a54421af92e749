"""``python -m unlearnkit.book``: execute the chapters and build the book."""

from .build import main

main()
