"""metric tiles: each metric of each run in 64-step tiles kept at ingestion (first and last point,
lowest and highest value with their first steps), so that a chart of a long curve reads a tile
per 64 points instead of every point (issue 12: a chart of a 1,000,000-point run)

Revision ID: 0008
Revises: 0007

A new table only. Filled from the points already stored, by the rules add_points keeps (NULL
values are no extreme; the earliest step of equal extremes).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'metric_tiles',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('tile', sa.Integer(), nullable=False),
        sa.Column('first_step', sa.Integer(), nullable=False),
        sa.Column('first_value', sa.Float(), nullable=True),
        sa.Column('last_step', sa.Integer(), nullable=False),
        sa.Column('last_value', sa.Float(), nullable=True),
        sa.Column('min_value', sa.Float(), nullable=True),
        sa.Column('min_step', sa.Integer(), nullable=True),
        sa.Column('max_value', sa.Float(), nullable=True),
        sa.Column('max_step', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_metric_tiles_run_id_runs'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('run_id', 'name', 'tile', name=op.f('pk_metric_tiles')),
    )
    # Each tile's figures, then its values and extremes' steps looked up in its 64 steps.
    in_tile = "m.run_id = a.run_id AND m.name = a.name AND m.step BETWEEN a.tile * 64 AND a.tile * 64 + 63"
    op.execute(
        "INSERT INTO metric_tiles (run_id, name, tile, first_step, first_value, last_step, last_value, "
        "min_value, min_step, max_value, max_step) "
        "SELECT a.run_id, a.name, a.tile, a.first_step, "
        "(SELECT m.value FROM metrics m WHERE m.run_id = a.run_id AND m.name = a.name AND m.step = a.first_step), "
        "a.last_step, "
        "(SELECT m.value FROM metrics m WHERE m.run_id = a.run_id AND m.name = a.name AND m.step = a.last_step), "
        f"a.min_value, (SELECT min(m.step) FROM metrics m WHERE {in_tile} AND m.value = a.min_value), "
        f"a.max_value, (SELECT min(m.step) FROM metrics m WHERE {in_tile} AND m.value = a.max_value) "
        "FROM (SELECT run_id, name, step / 64 AS tile, min(step) AS first_step, max(step) AS last_step, "
        "min(value) AS min_value, max(value) AS max_value FROM metrics GROUP BY run_id, name, step / 64) AS a"
    )


def downgrade() -> None:
    op.drop_table('metric_tiles')
