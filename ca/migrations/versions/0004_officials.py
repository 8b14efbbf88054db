"""Officials who sign remotely (key, certificate, encrypted TOTP seed, PIN hash, lockout)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'officials',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('agency_id', sa.Integer(), sa.ForeignKey('agencies.id'), nullable=False),
        sa.Column('given_name_th', sa.Text(), nullable=False),
        sa.Column('surname_th', sa.Text(), nullable=False),
        sa.Column('given_name_en', sa.Text(), nullable=False),
        sa.Column('surname_en', sa.Text(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('id_number', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('ca_name', sa.String(length=64), nullable=True),
        sa.Column('cert_serial', sa.String(length=40), nullable=True),
        sa.Column('key_uri', sa.Text(), nullable=True),
        sa.Column('cert_der', sa.LargeBinary(), nullable=True),
        sa.Column('chain_der', sa.LargeBinary(), nullable=True),
        sa.Column('totp_secret_enc', sa.LargeBinary(), nullable=True),
        sa.Column('pin_hash', sa.Text(), nullable=True),
        sa.Column('failed_attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_totp_step', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('officials')
