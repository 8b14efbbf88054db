"""Signing service: agencies, seals, API clients, TSA units, document registry

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agencies',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('code', sa.String(length=32), nullable=False, unique=True),
        sa.Column('name_th', sa.Text(), nullable=False),
        sa.Column('name_en', sa.Text(), nullable=False),
        sa.Column('juristic_id', sa.String(length=13), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'agency_seals',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('agency_id', sa.Integer(), sa.ForeignKey('agencies.id'), nullable=False),
        sa.Column('ca_name', sa.String(length=64), nullable=False),
        sa.Column('serial_hex', sa.String(length=40), nullable=False, unique=True),
        sa.Column('key_uri', sa.Text(), nullable=False),
        sa.Column('cert_der', sa.LargeBinary(), nullable=False),
        sa.Column('chain_der', sa.LargeBinary(), nullable=False),
        sa.Column('not_after', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'api_clients',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('agency_id', sa.Integer(), sa.ForeignKey('agencies.id'), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('secret_hash', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'tsa_units',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ca_name', sa.String(length=64), nullable=False),
        sa.Column('serial_hex', sa.String(length=40), nullable=False),
        sa.Column('key_uri', sa.Text(), nullable=False),
        sa.Column('cert_der', sa.LargeBinary(), nullable=False),
        sa.Column('chain_der', sa.LargeBinary(), nullable=False),
        sa.Column('not_after', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'documents',
        sa.Column('id', sa.String(length=40), primary_key=True),
        sa.Column('sha256', sa.String(length=64), nullable=False, index=True),
        sa.Column('agency_id', sa.Integer(), sa.ForeignKey('agencies.id'), nullable=False),
        sa.Column('seal_serial', sa.String(length=40), nullable=False),
        sa.Column('signer_kind', sa.String(length=16), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('subfilter', sa.String(length=32), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('sealed_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ('documents', 'tsa_units', 'api_clients', 'agency_seals', 'agencies'):
        op.drop_table(table)
