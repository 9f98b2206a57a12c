"""Built-in report formats and embedded datasets pass the same ganbench.testing contracts as a
third-party plugin (architectures, losses and techniques: tests/test_archs.py, test_losses.py,
test_techniques.py)."""

from ganbench.testing import DatasetContract, ReportFormatContract

from ganbench_plugins.datasets.digits import Digits
from ganbench_plugins.datasets.grid25 import Grid25
from ganbench_plugins.datasets.mnist5k_edges import Mnist5kEdges
from ganbench_plugins.datasets.mnist5k_inpaint import Mnist5kInpaint
from ganbench_plugins.datasets.mnist5k_x4 import Mnist5kX4
from ganbench_plugins.datasets.oracle_lstm import OracleLSTM
from ganbench_plugins.datasets.ring8 import Ring8
from ganbench_plugins.report_formats.csv import Csv
from ganbench_plugins.report_formats.html import Html
from ganbench_plugins.report_formats.json import Json
from ganbench_plugins.report_formats.latex import Latex
from ganbench_plugins.report_formats.markdown import Markdown


class TestMarkdown(ReportFormatContract):
    plugin = Markdown


class TestCsv(ReportFormatContract):
    plugin = Csv


class TestJson(ReportFormatContract):
    plugin = Json


class TestLatex(ReportFormatContract):
    plugin = Latex


class TestHtml(ReportFormatContract):
    plugin = Html


class TestOracleLSTM(DatasetContract):
    plugin = OracleLSTM


class TestRing8(DatasetContract):
    plugin = Ring8


class TestGrid25(DatasetContract):
    plugin = Grid25


class TestDigits(DatasetContract):
    plugin = Digits


class TestMnist5kX4(DatasetContract):
    plugin = Mnist5kX4


class TestMnist5kEdges(DatasetContract):
    plugin = Mnist5kEdges


class TestMnist5kInpaint(DatasetContract):
    plugin = Mnist5kInpaint
