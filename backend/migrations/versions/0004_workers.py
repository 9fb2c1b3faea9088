"""workers: the catalog each worker publishes, and the queue of each run

Revision ID: 0004
Revises: 0003

Adds a table and a nullable column: `ALTER TABLE ADD COLUMN` on SQLite too, no rebuild of `runs`
(which would cascade to every metric point, see 0002). Runs stored before have no queue: they
were all for the built-in zoo, whose queue they get.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workers',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('catalog', sa.JSON(), nullable=False),
    sa.Column('catalog_digest', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_workers')),
    )
    op.create_index(op.f('ix_workers_last_seen_at'), 'workers', ['last_seen_at'], unique=False)
    op.add_column('runs', sa.Column('queue', sa.String(length=500), nullable=True))
    op.execute("UPDATE runs SET queue = 'trainboard.trainboard'")


def downgrade() -> None:
    op.drop_column('runs', 'queue')  # in place on SQLite too (3.35+), as 0002 does
    op.drop_index(op.f('ix_workers_last_seen_at'), table_name='workers')
    op.drop_table('workers')
