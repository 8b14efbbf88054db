"""CSC signature activation data (SAD), stored as hashes

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'csc_sads',
        sa.Column('sad_sha256', sa.String(length=64), primary_key=True),
        sa.Column('credential_id', sa.String(length=64), nullable=False),
        sa.Column('hashes', sa.Text(), nullable=False),
        sa.Column('remaining', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('csc_sads')
