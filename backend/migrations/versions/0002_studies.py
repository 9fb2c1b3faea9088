"""studies: the studies table, and each run's study and grid cell

Revision ID: 0002
Revises: 0001

Written by hand: on SQLite, Alembic's batch mode would rebuild `runs` to add its foreign key, and
with foreign keys on, SQLite's DROP TABLE first deletes every row, which cascades to every metric
point. SQLite can add a column with an inline REFERENCES clause in place instead (and, from 3.35,
drop it again), so `runs` is never rebuilt. The key has no ON DELETE action (see models/run.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    op.create_table('studies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_spec', sa.JSON(), nullable=False),
    sa.Column('grid', sa.JSON(), nullable=False),
    sa.Column('seeds', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studies')),
    sa.UniqueConstraint('name', name=op.f('uq_studies_name')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_studies_created_at'), 'studies', ['created_at'], unique=False)

    if _sqlite():
        op.execute(
            'ALTER TABLE runs ADD COLUMN study_id INTEGER '
            'CONSTRAINT fk_runs_study_id_studies REFERENCES studies (id)'
        )
    else:
        op.add_column('runs', sa.Column('study_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f('fk_runs_study_id_studies'), 'runs', 'studies', ['study_id'], ['id']
        )
    op.add_column('runs', sa.Column('cell', sa.JSON(), nullable=True))
    op.create_index(op.f('ix_runs_study_id'), 'runs', ['study_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_runs_study_id'), table_name='runs')
    op.drop_column('runs', 'cell')
    if _sqlite():
        op.execute('ALTER TABLE runs DROP COLUMN study_id')
    else:
        op.drop_constraint(op.f('fk_runs_study_id_studies'), 'runs', type_='foreignkey')
        op.drop_column('runs', 'study_id')
    # No run refers to a study any more, so dropping the table cascades to nothing.
    op.drop_index(op.f('ix_studies_created_at'), table_name='studies')
    op.drop_table('studies')
