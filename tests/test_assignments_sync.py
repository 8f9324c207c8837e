"""assignments/release/ et solutions/ sont exactement ce que produit `make assignments`."""

from course_grading import assignments


def test_release_and_solutions_match_the_source():
    problems = assignments.out_of_sync()
    assert not problems, "lancez « make assignments » :\n" + "\n".join(problems)


def test_every_assignment_has_a_grading_test():
    from pathlib import Path

    tests = Path(__file__).parent
    for tp in assignments.list_assignments():
        assert (tests / f"test_grading_{tp.lower()}.py").exists(), f"{tp} n'a pas de test de correction"
