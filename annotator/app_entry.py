"""Streamlit script run by ``protolabel app`` (the repository's ``app.py`` does the same).

It sits outside ``annotator/ui/`` on purpose: Streamlit treats a ``pages/`` folder beside the
main script as old-style pages, which would bypass ``st.navigation``.
"""

from annotator.ui.main import main

main()
