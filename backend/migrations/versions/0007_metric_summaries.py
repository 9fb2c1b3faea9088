"""metric summaries: each run's metrics in a few figures kept at ingestion (count, first and last
step, last value, lowest and highest value with their first steps), so that the runs list and the
comparisons never rescan every point (issue 12)

Revision ID: 0007
Revises: 0006

A new table only: `runs` and `metrics` are untouched. Filled from the points already stored, by the
same rules add_points keeps (NULL values count but are no extreme; the earliest step of equal
extremes).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'metric_summaries',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_step', sa.Integer(), nullable=False),
        sa.Column('last_step', sa.Integer(), nullable=False),
        sa.Column('last_value', sa.Float(), nullable=True),
        sa.Column('min_value', sa.Float(), nullable=True),
        sa.Column('min_step', sa.Integer(), nullable=True),
        sa.Column('max_value', sa.Float(), nullable=True),
        sa.Column('max_step', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_metric_summaries_run_id_runs'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('run_id', 'name', name=op.f('pk_metric_summaries')),
    )
    op.execute(
        "INSERT INTO metric_summaries (run_id, name, count, first_step, last_step, last_value, "
        "min_value, min_step, max_value, max_step) "
        "SELECT a.run_id, a.name, a.count, a.first_step, a.last_step, "
        "(SELECT m.value FROM metrics m WHERE m.run_id = a.run_id AND m.name = a.name AND m.step = a.last_step), "
        "a.min_value, "
        "(SELECT min(m.step) FROM metrics m WHERE m.run_id = a.run_id AND m.name = a.name AND m.value = a.min_value), "
        "a.max_value, "
        "(SELECT min(m.step) FROM metrics m WHERE m.run_id = a.run_id AND m.name = a.name AND m.value = a.max_value) "
        "FROM (SELECT run_id, name, count(*) AS count, min(step) AS first_step, max(step) AS last_step, "
        "min(value) AS min_value, max(value) AS max_value FROM metrics GROUP BY run_id, name) AS a"
    )


def downgrade() -> None:
    op.drop_table('metric_summaries')
