"""The Compare page alone, for AppTest."""

from annotator.ui.pages import compare

compare.main()
