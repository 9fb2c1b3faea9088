"""run handbacks: how many times a run's worker handed it back on a graceful stop (SIGTERM)

Revision ID: 0006
Revises: 0005

Written by hand, like 0005: a column with a server default is added in place (`ALTER TABLE ADD
COLUMN`) on SQLite too. Batch mode would rebuild `runs`, and SQLite's DROP TABLE of the old copy
would cascade to every metric point (see 0002). Runs stored before count no handback: their earlier
handbacks stay counted as attempts, as they were.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('runs', sa.Column('handbacks', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('runs', 'handbacks')  # in place on SQLite too (3.35+), as 0005 does
