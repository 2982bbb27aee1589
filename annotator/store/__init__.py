"""The store: all SQL (SQLAlchemy 2.0), SQLite by default and PostgreSQL for teams."""

import logging

# Alembic logs INFO lines when it is imported (its plugins) and per migration context: noise in
# the server's log (14 lines with two workers), while our upgrades say nothing unless they
# fail. Set here, before any module of the store imports Alembic.
logging.getLogger("alembic").setLevel(logging.WARNING)
