"""placeholder"""


def answer(argv: list[str]) -> bool:
    return False
