"""Streamlit script run by ``protolabel app`` (the repository's ``app.py`` does the same)."""

from annotator.ui.main import main

main()
