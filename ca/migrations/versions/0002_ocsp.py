"""OCSP responders and pre-signed responses

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ocsp_responders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ca_id', sa.Integer(), nullable=False),
        sa.Column('serial_hex', sa.String(length=40), nullable=False),
        sa.Column('key_uri', sa.Text(), nullable=False),
        sa.Column('der', sa.LargeBinary(), nullable=False),
        sa.Column('not_after', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ca_id'], ['cas.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'ocsp_responses',
        sa.Column('ca_id', sa.Integer(), nullable=False),
        sa.Column('serial_hex', sa.String(length=40), nullable=False),
        sa.Column('hash_alg', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('der', sa.LargeBinary(), nullable=False),
        sa.Column('this_update', sa.DateTime(), nullable=False),
        sa.Column('next_update', sa.DateTime(), nullable=False),
        sa.Column('produced_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ca_id'], ['cas.id']),
        sa.PrimaryKeyConstraint('ca_id', 'serial_hex', 'hash_alg'),
    )


def downgrade() -> None:
    op.drop_table('ocsp_responses')
    op.drop_table('ocsp_responders')
