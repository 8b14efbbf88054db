"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 06:27:23.647182
"""
from alembic import op
import sqlalchemy as sa



revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The audit chain starts from a fixed genesis hash; appends lock this row.
    op.bulk_insert(sa.table('audit_head', sa.column('id', sa.Integer()), sa.column('last_seq', sa.BigInteger()),
                            sa.column('last_hash', sa.String())),
                   [{'id': 1, 'last_seq': 0, 'last_hash': '0' * 64}])
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('time', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('cas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('key_uri', sa.Text(), nullable=False),
    sa.Column('key_type', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('serial_hex', sa.String(length=40), nullable=False),
    sa.Column('certificate', sa.LargeBinary(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=False),
    sa.Column('crl_number', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['cas.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial_hex', sa.String(length=40), nullable=False),
    sa.Column('ca_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('key_uri', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revocation_reason', sa.String(length=32), nullable=True),
    sa.Column('invalidity_date', sa.DateTime(), nullable=True),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('serial_hex')
    )
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_ca_status', ['ca_id', 'status'], unique=False)

    op.create_table('crls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ca_id', sa.Integer(), nullable=False),
    sa.Column('crl_number', sa.BigInteger(), nullable=False),
    sa.Column('this_update', sa.DateTime(), nullable=False),
    sa.Column('next_update', sa.DateTime(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ca_id', 'crl_number')
    )
    op.create_table('serials',
    sa.Column('serial_hex', sa.String(length=40), nullable=False),
    sa.Column('ca_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('tbs_sha256', sa.String(length=64), nullable=True),
    sa.Column('certificate', sa.LargeBinary(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reserved_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ca_id'], ['cas.id'], ),
    sa.PrimaryKeyConstraint('serial_hex')
    )
    


def downgrade() -> None:
    
    op.drop_table('serials')
    op.drop_table('crls')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_ca_status')

    op.drop_table('certificates')
    op.drop_table('cas')
    op.drop_table('audit_log')
    op.drop_table('audit_head')
    
