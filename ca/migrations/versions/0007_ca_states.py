"""CA states and external parents (issue 12): a CA is active, retiring (issues nothing more but
keeps publishing status until its last certificate expires) or external (its certificate is here,
its key is not: a national root, an offline root); a CA whose key was generated here but whose
certificate the parent has not yet returned waits in ``pending_cas``; the parent's status for
each CA certificate of a chain, fetched by `govca ca refresh-parent`, lives in ``parent_status``.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cas') as batch:
        batch.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='active'))
    op.create_table(
        'pending_cas',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=64), nullable=False, unique=True),
        sa.Column('profile', sa.String(length=64), nullable=False),
        sa.Column('key_uri', sa.Text(), nullable=False),
        sa.Column('key_type', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('request', sa.LargeBinary(), nullable=False),
        sa.Column('successor_of', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'parent_status',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ca_id', sa.Integer(), sa.ForeignKey('cas.id'), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('der', sa.LargeBinary(), nullable=False),
        sa.Column('this_update', sa.DateTime(), nullable=False),
        sa.Column('next_update', sa.DateTime(), nullable=True),
        sa.Column('fetched_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('ca_id', 'kind', 'url'),
    )


def downgrade() -> None:
    op.drop_table('parent_status')
    op.drop_table('pending_cas')
    with op.batch_alter_table('cas') as batch:
        batch.drop_column('state')
