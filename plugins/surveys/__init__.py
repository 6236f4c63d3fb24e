"""The surveys plugin: satisfaction surveys (NPS, CSAT, ratings, choices, text)
that customers answer through a single-use link, with results a team can act on.

Its whole contract with the core is below. Rules live in ``service``, GraphQL in
``graphql``, the public answering page in ``page``.
"""

from kehu import hookimpl


@hookimpl
def kehu_plugin_info():
    return {
        "description": "Satisfaction surveys (NPS, CSAT) answered through a public link, with results",
        "api": ">=1,<2",
        "hookspecs": "kehu.plugins.surveys.hookspecs",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.surveys.models"], "migrations": "kehu.plugins.surveys.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import SurveySettings

    return SurveySettings


@hookimpl
def kehu_permissions():
    from kehu.access import Permission

    return [
        Permission("surveys.manage", "Create, edit, publish and close surveys", ("ADMIN", "MANAGER")),
        Permission("surveys.invite", "Invite visible customers to a survey", ("ADMIN", "MANAGER", "AGENT")),
    ]


@hookimpl
def kehu_field_policies():
    from kehu.policies import free_text

    # What a customer wrote in their own words is personal; analysts get the scores.
    # The same answers are reachable as SurveyAnswer.text (a response's answers) and
    # SurveyTextAnswer.text (a question's results): one column, both fields.
    return [
        free_text("SurveyTextAnswer", "text", "surveys.Answer.text"),
        free_text("SurveyAnswer", "text", "surveys.Answer.text"),
    ]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as types

    graphql.query(types.SurveyQuery, public=["surveyByToken"])
    graphql.mutation(types.SurveyMutation, public=["submitSurveyResponse"])
    graphql.extend("Customer", types.CustomerSurveys)
    # Types naming core types ("Customer", "AccountOwner") below connections, where
    # the schema builder's one-level rebinding does not reach them.
    graphql.types(*types.REBOUND_TYPES)
    graphql.node("Survey", types.resolve_survey_node)
    graphql.node("SurveyResponse", types.resolve_response_node)
    graphql.node("SurveyQuestion", types.resolve_question_node)
    graphql.node("SurveyChoice", types.resolve_choice_node)
    graphql.node("SurveyInvitation", types.resolve_invitation_node)


@hookimpl
def kehu_routes(kehu):
    from .page import survey_routes

    return survey_routes(kehu)


@hookimpl
async def kehu_bulk_loaded(reason, customer_ids, kehu):
    """``kehu demo``: a demo survey answered by many of the demo customers."""
    if reason == "demo":
        from .demo import seed_surveys

        await seed_surveys(kehu, customer_ids)


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """Invitations and responses move to the survivor."""
    from .service.merging import merge_respondents

    return await merge_respondents(survivor.id, [c.id for c in merged])


@hookimpl
async def kehu_survey_requested(customer, reason, reference, actor, event_id, kehu):
    from .service import request_survey

    # One invitation per event, however often it is delivered.
    await request_survey(kehu, customer, reason, reference, actor, event_id=event_id)


@hookimpl(optionalhook=True)
def kehu_console_messages():
    """The console's texts for this plugin's vocabulary and panels (messages/<language>.json)."""
    from pathlib import Path

    from kehu.i18n import read_catalogues

    return read_catalogues(Path(__file__).parent / "messages")
