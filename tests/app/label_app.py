"""The Label page alone, for AppTest (navigation needs file paths there)."""

from annotator.ui.pages import label

label.main()
