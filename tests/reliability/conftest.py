# The generation fixtures (demo nets with seeded weights, scenes, studies) serve these tests too.
from tests.studies_admin.conftest import *  # noqa: F403
