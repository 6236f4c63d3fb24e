"""Every hook is documented well enough to be used from its docstring alone."""

import inspect

from kehu import hookspecs


def specs():
    return {name: fn for name, fn in vars(hookspecs).items() if name.startswith("kehu_") and callable(fn)}


def test_every_hook_has_a_real_docstring():
    for name, fn in specs().items():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 80, f"{name} needs a docstring a plugin author can work from"


def test_every_hook_is_marked_as_a_spec():
    for name, fn in specs().items():
        assert hasattr(fn, "kehu_spec"), f"{name} is not decorated with @hookspec"


def test_hook_parameters_are_type_hinted():
    for name, fn in specs().items():
        signature = inspect.signature(fn)
        for param in signature.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) has no type hint"


def test_event_hooks_document_failure_behaviour():
    for name in (
        "kehu_customer_created",
        "kehu_customer_updated",
        "kehu_customer_archived",
        "kehu_owner_assigned",
        "kehu_interaction_logged",
    ):
        doc = inspect.getdoc(specs()[name])
        assert "May be async" in doc and ("undo" in doc), name


def test_hookimpl_is_exported():
    import kehu

    assert kehu.hookimpl is hookspecs.hookimpl
