"""Alembic environment: the URL comes from the Config (set by rectify.schema), not alembic.ini."""

from alembic import context

import models  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base
from models.db import get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
