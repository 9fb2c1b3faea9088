"""script runs: each run's source (a worker or the user's own script), a script's config and the
client's idempotency key

Revision ID: 0005
Revises: 0004

Written by hand, like 0002 and 0004: nullable columns and one with a server default are added in
place (`ALTER TABLE ADD COLUMN`) on SQLite too, and the key is unique through a unique index, which
SQLite also creates in place. Batch mode would rebuild `runs`, and SQLite's DROP TABLE of the old
copy would cascade to every metric point (see 0002). Runs stored before were all trained by workers.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('runs', sa.Column('source', sa.String(length=16), server_default='worker', nullable=False))
    op.add_column('runs', sa.Column('config', sa.JSON(), nullable=True))
    op.add_column('runs', sa.Column('client_key', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_runs_source'), 'runs', ['source'], unique=False)
    op.create_index(op.f('ix_runs_client_key'), 'runs', ['client_key'], unique=True)


def downgrade() -> None:
    # Script runs stay, with their points: an older API shows them as finished runs with an empty spec.
    op.drop_index(op.f('ix_runs_client_key'), table_name='runs')
    op.drop_index(op.f('ix_runs_source'), table_name='runs')
    op.drop_column('runs', 'client_key')  # in place on SQLite too (3.35+), as 0002 and 0004 do
    op.drop_column('runs', 'config')
    op.drop_column('runs', 'source')
