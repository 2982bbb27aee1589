"""protolabel's browser app: ``streamlit run app.py`` (or ``make run`` / ``protolabel app``)."""

from annotator.ui.main import main

main()
