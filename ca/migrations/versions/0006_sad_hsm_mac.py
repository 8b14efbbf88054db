"""CSC SADs bound by an HMAC computed in the HSM: the budget and hashes as authorised, the hashes
consumed, and the MAC (signer/remote/csc.py). Rows made before have no MAC and are refused (a SAD
lives minutes).

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('csc_sads') as batch:
        batch.add_column(sa.Column('budget', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('consumed', sa.Text(), nullable=True))
        batch.add_column(sa.Column('mac', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('csc_sads') as batch:
        batch.drop_column('mac')
        batch.drop_column('consumed')
        batch.drop_column('budget')
