from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as BaseJSONParser


class JSONParser(BaseJSONParser):
    """DRF's JSON parser, with nesting too deep for Python's parser reported as a 400.

    json.loads raises RecursionError (not ValueError) on ten thousand nested brackets; DRF
    only catches ValueError, so such a body would otherwise be a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
