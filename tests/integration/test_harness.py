"""Issue 11: a missing tool or data set fails the suite instead of skipping
it in silence. The rules of harness.missing(), with the environment set
explicitly for each case."""
import os
import unittest
from unittest import mock

import harness


class MissingToolPolicyTest(unittest.TestCase):

    def env(self, **kw):
        clean = {k: v for k, v in os.environ.items() if k not in ("CI", "TEGAMI_ALLOW_SKIP")}
        clean.update(kw)
        return mock.patch.dict(os.environ, clean, clear=True)

    def test_missing_tool_fails_by_default_and_names_the_package(self):
        with self.env():
            with self.assertRaises(AssertionError) as cm:
                harness.need_tool("tegami-no-such-tool", "tegami-no-such-package")
        self.assertIn("tegami-no-such-package", str(cm.exception))
        self.assertIn("scripts/deps.sh", str(cm.exception))

    def test_opt_out_skips_outside_ci_only(self):
        with self.env(TEGAMI_ALLOW_SKIP="1"):
            with self.assertRaises(unittest.SkipTest):
                harness.need_tool("tegami-no-such-tool")
        with self.env(TEGAMI_ALLOW_SKIP="1", CI="true"):
            with self.assertRaises(AssertionError):
                harness.need_tool("tegami-no-such-tool")

    def test_present_tool_returns_its_path(self):
        with self.env(CI="true"):
            self.assertTrue(os.path.isabs(harness.need_tool("python3")))

    def test_missing_perl_module_fails(self):
        with self.env(CI="true"):
            with self.assertRaises(AssertionError) as cm:
                harness.need_perl_module("Tegami::No::Such::Module", "libtegami-nothing-perl")
            self.assertIn("libtegami-nothing-perl", str(cm.exception))
            harness.need_perl_module("strict", "perl-base")  # always there

    def test_shared_data_skips_in_a_users_clone_but_fails_in_ci(self):
        with self.env():
            with self.assertRaises(unittest.SkipTest):
                harness.need_data("/nonexistent/shared/corpus", "the shared corpus")
        with self.env(CI="true"):
            with self.assertRaises(AssertionError):
                harness.need_data("/nonexistent/shared/corpus", "the shared corpus")

    def test_swaks_tls_modules_are_installed(self):
        """The failure issue 11 reported: swaks without Net::SSLeay."""
        with self.env(CI="true"):
            harness.need_tool("swaks")
            harness.need_perl_module("Net::SSLeay", "libnet-ssleay-perl")
            harness.need_perl_module("IO::Socket::SSL", "libio-socket-ssl-perl")
            harness.need_perl_module("Authen::SASL", "libauthen-sasl-perl")


if __name__ == "__main__":
    unittest.main()
