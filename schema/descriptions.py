"""Descriptions of the schema's types, fields, arguments and enum values, kept in one
place so the domain modules stay readable; a `description=` written in a module wins.

`describe(schema)` fills what is missing once the schema is built: first from
DESCRIPTIONS (keys "Type", "Type.field", "Type.field(argument)", "Enum.VALUE"), then
from the shape rules below (payloads, inputs, ids, timestamps, page arguments).
tests/api/test_schema_descriptions.py lists anything still undescribed."""
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema
from graphql import get_named_type

from schema.relay import AFTER, FIRST

_USER_ERRORS = (
    "Why the mutation was refused, one entry per problem with the input's `field` it concerns (see UserErrorCode); "
    "empty when it succeeded. When it is not empty nothing was written"
)
_ID = "Opaque global id (`node(id:)` fetches it)"
_VERSION = "Increases with every change; mutations take the version last read and answer CONFLICT when it is stale"

DESCRIPTIONS: dict[str, str] = {
    # ------------------------------------------------------------ root types
    "Query": "Everything a client reads; without a sign-in or API token every field answers UNAUTHENTICATED",
    "Mutation": (
        "Every change. Refusals come back in the payload's `userErrors` (every problem with the input at once) "
        "and write nothing; GraphQL errors are for malformed requests and missing sign-in"
    ),
    "Subscription": "Live updates over websockets (graphql-transport-ws, or legacy graphql-ws)",
    "Query.node": "Any entity by its global id; null when the id is unknown, from another organization or not visible to the viewer",
    "Query.node(id)": "A global id as Baton gave it (the `id` of any Node)",
    "Query.nodes(ids)": "Up to 100 global ids; more answer BAD_USER_INPUT",
    "Query.viewer": "The signed-in user (for an API token: the user it acts as)",
    "Query.departments": "The organization's departments, in the order they were made (archived ones only with `includeArchived`)",
    "Query.users": (
        "The organization's users by name (at most 1000; usersConnection pages through all); deactivated users "
        "only with `includeInactive`"
    ),
    "Query.users(departmentKey)": "Only members of this department",
    "Query.pipelines": "The organization's pipelines with their stages",
    "Query.board": (
        "A pipeline's kanban: one column per stage with its counts, totals and first cards, narrowed by `filter` "
        "and by what the viewer may see"
    ),
    "Query.board(pipelineId)": "The pipeline to show; omitted: the organization's first pipeline",
    "Query.board(filter)": "Narrows the counts, totals and cards alike",
    "Query.opportunities": "Opportunities the viewer may see, newest first",
    "Query.accounts": (
        "Customers the viewer may see (every one when their access rule shows every card, unless it withholds "
        "accounts; otherwise those of the cards they see and those they manage), by name"
    ),
    "Query.accounts(search)": "Only customers whose normalized name contains this one's (case, spacing, punctuation and company forms ignored)",
    "Query.account": "A customer by id; null when unknown or not visible to the viewer",
    "Query.account(id)": "The customer's global id",
    "Query.opportunities(filter)": "Narrows the list (every criterion must hold)",
    "Query.tasks": "Tasks on cards the viewer may see, newest first",
    "Query.tasks(assigneeId)": "Only tasks assigned to this user",
    "Query.tasks(departmentKey)": "Only tasks of this department",
    "Query.tasks(status)": "Only tasks in one of these statuses",
    "Query.approvals(departmentKey)": "Only approvals with a step for this department (its work queue)",
    "Query.approvals(status)": "Only approvals in one of these statuses",
    "Query.notifications(unreadOnly)": "Only notifications not yet marked read",
    "Query.analytics(pipelineId)": "The pipeline to measure; omitted: the organization's first pipeline",
    "Query.analytics(from)": "First creation date counted (UTC, inclusive); omitted: from the beginning",
    "Query.analytics(to)": "Last creation date counted (UTC, inclusive); omitted: up to today",
    "Query.events(after)": "A `seq` already seen: only later events are returned; omitted: from the first event",
    "Query.events(first)": "How many events (default and maximum BATON_MAX_PAGE_SIZE, 100 unless configured)",
    "Query.events(departmentKeys)": "Only events concerning any of these departments",
    "Query.events(types)": "Only events of these types",
    "Query.events(opportunityId)": "Only events of this opportunity",
    "Query.apiTokens(includeRevoked)": "Also list revoked tokens",
    "Query.channelDeliveries(channelId)": "Only deliveries to this channel",
    "Query.channelDeliveries(status)": "Only deliveries in one of these statuses",
    "Query.notificationPreferences": "The viewer's routing of notification kinds to channels, quiet hours and daily digest",
    "Query.exchangeRates(currency)": "Only rates of this ISO currency code",
    "Subscription.boardEvents(after)": "A `seq` already seen: stored events after it are replayed first, then live ones follow",
    "Subscription.boardEvents(departmentKeys)": "Only events concerning any of these departments",
    "Subscription.boardEvents(types)": "Only events of these types",
    "Subscription.boardEvents(opportunityId)": "Only events of this opportunity",
    # ------------------------------------------------------------ mutations
    "Mutation.login": (
        "Sign in with email and password; the answer's token goes in `Authorization: Bearer <token>`. "
        "Wrong credentials answer VALIDATION on `password` without saying which of the two was wrong"
    ),
    "Mutation.createOpportunity": (
        "Create a card (writers). It starts in the pipeline's first stage unless `stageKey` names a later one, whose gates "
        "it must pass (STAGE_GATE); VALIDATION, NOT_FOUND for unknown owner, pipeline or stage. "
        "`clientMutationId` makes a retry return the first result"
    ),
    "Mutation.updateOpportunity": (
        "Change a card's details: its owner, the owner's managers, admins and the department holding it. "
        "CONFLICT when `version` is stale, LOCKED for a field a pending approval locks, FORBIDDEN, VALIDATION; "
        "on a refusal `current` is the card as it is now"
    ),
    "Mutation.createAccount": (
        "Create a customer (writers). DUPLICATE when one with the same normalized name exists (the message names it); "
        "POSSIBLE_DUPLICATE, with possibleDuplicates, when similar ones exist and allowSimilar is not set"
    ),
    "Mutation.updateAccount": "Change a customer (writers who see it): CONFLICT on a stale version, the duplicate checks on a rename",
    "Mutation.mergeAccounts": (
        "Admins and managers: move every deal of the source customer to the target and delete the source, in one "
        "transaction (ACCOUNT_MERGED, and OPPORTUNITY_UPDATED per moved deal)"
    ),
    "Mutation.resolveOwnershipConflict": (
        "Close a customer's ownership conflict (撞单): admins, or managers of an involved owner's department; deals stay as they are"
    ),
    "Mutation.moveOpportunity": (
        "Move a card to another stage: its owner, the owner's managers and admins. STAGE_GATE when a required field, "
        "approval or deliverable is missing (the approval the stage's rule defines is requested at once), CONFLICT, "
        "FORBIDDEN; `previousStage` is the column the card left"
    ),
    "Mutation.createTask": (
        "Add a task to a card the viewer may see (writers); the assignee is notified. VALIDATION for bad values or an "
        "unknown department, NOT_FOUND for an unknown card or assignee"
    ),
    "Mutation.updateTask": "Change a task (writers): omitted fields keep their value. CONFLICT when `version` is stale, VALIDATION, NOT_FOUND",
    "Mutation.addComment": "Comment on a card or one of its tasks (writers); @handle and @department mentions notify",
    "Mutation.requestHandoff": (
        "Ask another department to take the baton of a card (those who may edit the card). DUPLICATE when one to that "
        "department is pending; the receiving department is notified"
    ),
    "Mutation.respondHandoff": (
        "Accept or decline a pending handoff: the receiving department or an admin (FORBIDDEN otherwise). "
        "Accepting moves the card to that department; INVALID_TRANSITION when it is no longer pending"
    ),
    "Mutation.requestApproval": (
        "Ask for an approval of a card (those who may edit it). A near miss of one of `approvalKinds` (a typo) answers "
        "VALIDATION on `kind`; DUPLICATE when one of that kind is pending; the first approvers are notified"
    ),
    "Mutation.decideApproval": (
        "Approve or reject the viewer's open step of an approval (its approvers; admins decide any open step). "
        "One rejection rejects the approval; FORBIDDEN for someone who is not an approver, INVALID_TRANSITION when closed"
    ),
    "Mutation.markNotificationsRead": "Mark some or all of the viewer's notifications read; answers how many stay unread",
    "Mutation.createApiToken": (
        "Make a long-lived API token (admins with a writing token; FORBIDDEN otherwise). The token is in the answer "
        "once and never shown again"
    ),
    "Mutation.revokeApiToken": "Revoke an API token (admins); it stops working at once",
    "Mutation.createWebhook": (
        "Add an outgoing webhook endpoint (admins). The signing secret is in the answer once; private and loopback "
        "addresses are refused (VALIDATION) unless BATON_WEBHOOK_ALLOW_PRIVATE"
    ),
    "Mutation.updateWebhook": "Change a webhook endpoint (admins); omitted fields keep their value",
    "Mutation.deleteWebhook": "Delete a webhook endpoint (admins)",
    "Mutation.deleteNotificationChannel": "Delete a channel: your own, or (admins) a department's; NOT_FOUND otherwise",
    # ------------------------------------------------------------ people
    "Role": "What a user may do in their department",
    "Role.ADMIN": "Everything in the organization: settings, rules, tokens, any card",
    "Role.MANAGER": "A member who also moves and changes the cards of their department's members",
    "Role.MEMBER": "Works cards: creates, edits and moves their own, acts on what reaches their department",
    "Role.VIEWER": "Reads only; never notified",
    "Department": "A department of the organization (sales, legal, finance, ...), which holds cards and answers handoffs and approvals",
    "Department.key": "Stable short name used in inputs and filters (e.g. `legal`)",
    "Department.name": "Display name",
    "User": "A person of the organization",
    "User.name": "Display name",
    "User.email": "Sign-in address",
    "User.handle": "The name @mentions use",
    "User.role": "What the user may do",
    "User.department": "The department the user belongs to",
    "UserConnection": "A page of users",
    "UserEdge": "A user and its cursor",
    "LoginPayload.token": "The bearer token; null when refused",
    "LoginPayload.user": "Who signed in; null when refused",
    "LogoutPayload": "The result of `logout`",
    "RevokeUserSessionsPayload": "The result of `revokeUserSessions`",
    "RevokeUserSessionsInput.userId": "The user to sign out everywhere",
    "LoginInput.email": "Sign-in address (case-insensitive)",
    "LoginInput.password": "The user's password",
    # ------------------------------------------------------------ errors
    "UserError": "One problem with a mutation's input or target",
    "UserError.field": "Path of the input field concerned (for STAGE_GATE: the missing gate items); null when it is the request as a whole",
    "UserError.code": "What kind of problem, for programs",
    "UserError.message": "What is wrong, in words for people",
    "UserErrorCode": "Why a mutation was refused",
    "UserErrorCode.VALIDATION": "A value is malformed, out of range or unknown (`field` names it)",
    "UserErrorCode.NOT_FOUND": "No such object in the viewer's organization (or not visible to the viewer)",
    "UserErrorCode.FORBIDDEN": "The viewer's role, department or token scope does not allow it",
    "UserErrorCode.CONFLICT": "The `version` sent is stale: reload and retry",
    "UserErrorCode.STAGE_GATE": "The target stage's required fields, approvals or deliverables are missing (`field` lists them)",
    "UserErrorCode.INVALID_TRANSITION": "The object is not in a state that allows this",
    "UserErrorCode.DUPLICATE": "An identical pending request exists",
    "UserErrorCode.LOCKED": "A pending approval locks the field (the message names the approval)",
    "UserErrorCode.TOO_SOON": "An approval step was urged less than an hour ago",
    "UserErrorCode.POSSIBLE_DUPLICATE": "Similar customers exist (the payload's possibleDuplicates): resend with allowSimilar if it is another one",
    "UserErrorCode.LIMIT_EXCEEDED": "The user has made as many pool claims in the last 24 hours as allowed (BATON_POOL_CLAIMS_PER_DAY)",
    "UserErrorCode.COOLDOWN": "The user gave this deal back to the pool too recently to claim it again (BATON_POOL_RECLAIM_COOLDOWN_HOURS)",
    # ------------------------------------------------------------ opportunities and the board
    "Priority": "How urgent a card is",
    "Priority.LOW": "Low",
    "Priority.MEDIUM": "Medium (the default)",
    "Priority.HIGH": "High",
    "Priority.URGENT": "Urgent",
    "StageKind": "What reaching a stage means for a card",
    "StageKind.OPEN": "The deal is in progress",
    "StageKind.WON": "The deal is won",
    "StageKind.LOST": "The deal is lost (needs a lost reason)",
    # ------------------------------------------------------------ planning (schema/planning.py)
    "ForecastCategory.PIPELINE": "In the pipeline, no call made (the default)",
    "ForecastCategory.BEST_CASE": "Could close in its month if things go well",
    "ForecastCategory.COMMIT": "The owner commits to closing it in its month",
    "ForecastCategory.CLOSED": "Won (follows from a won stage; not set by hand)",
    "PlanningScope.OWNER": "Per owner",
    "PlanningScope.DEPARTMENT": "Per department (the owners' department)",
    "PlanningScope.ORGANIZATION": "The whole organization",
    "SetForecastCategoryInput.version": _VERSION,
    "Stage": "A column of a pipeline, with the gates a card must pass to enter it",
    "Stage.key": "Stable short name used in inputs and filters (e.g. `proposal`)",
    "Stage.name": "Display name",
    "Stage.position": "Order in the pipeline (columns are shown by ascending position)",
    "Stage.kind": "Whether cards here are open, won or lost",
    "Stage.requiredFields": "Card fields that must be filled to enter (e.g. `amount`, `expectedCloseDate`)",
    "Stage.requiredApprovals": "Approval kinds that must be approved (and still match the card) to enter",
    "Stage.requiredFiles": (
        "Attachment kinds a card needs to enter (e.g. [\"quote\"]): a move without one answers STAGE_GATE with "
        "`file:<kind>` in `field`; a card being created is not held for them"
    ),
    "Stage.staleAfterHours": "A card without activity for this long is stale (alerts, `staleOnly`); null: never",
    "Stage.silenceAfterHours": "Hours an open card may go without a follow-up before its customer counts as silent (an alert to the owner, `customerSilent`, `silentOnly`); counted from the last follow-up, or from entering the stage when none was logged; null: never",
    "Pipeline": "A sequence of stages cards move through",
    "Pipeline.name": "Display name",
    "Pipeline.stages": "The stages in order (archived stages have left the board and this list)",
    "Pipeline.archivedStages": "Stages an admin archived (archiveStage), in their last order; restoreStage brings one back",
    "Stage.archived": "Archived by an admin: off the board, no card can enter it (restoreStage brings it back)",
    "Account": "The customer a card is for",
    "Account.name": (
        "Company name. Customers are matched by its normalized form: full-width as half-width, case, spaces, "
        "punctuation and company-form suffixes (有限公司, 集团, Co., Ltd., Inc., GmbH, ...) ignored"
    ),
    "Account.industry": "Industry, when known",
    "Account.region": "Region, when known",
    "Account.website": "The customer's web address, when known",
    "Account.tags": "Lower-case labels (at most 20)",
    "Account.version": _VERSION + " (0 on a withheld account's stand-in)",
    "Account.createdAt": "When it was created (UTC); null only on a withheld account's stand-in",
    "Account.updatedAt": "When it last changed (UTC); null only on a withheld account's stand-in",
    "Account.owner": "The user who manages the customer, when one is set (deals have their own owners)",
    "Account.opportunities": "The customer's deals the viewer may see, newest first",
    "Account.openDealOwners": "Owners of the customer's open deals the viewer may see (more than one: see Opportunity.ownershipConflict)",
    "AccountMatch": "Another customer whose name is close to the one given (\"did you mean…?\")",
    "AccountMatch.account": "The similar customer",
    "AccountMatch.score": "How close the normalized names are, 0 to 100 (rapidfuzz WRatio; 85 and above are listed)",
    "AccountPayload.account": "The customer as written; null when refused",
    "AccountPayload.possibleDuplicates": (
        "Up to 5 customers the viewer may see with names close to the one given, closest first: with "
        "POSSIBLE_DUPLICATE nothing was written (resend with allowSimilar: true if it is another customer)"
    ),
    "CreateAccountInput.name": "Company name (required, at most 200 characters); an existing customer with the same normalized name answers DUPLICATE",
    "CreateAccountInput.industry": "Industry (at most 100 characters)",
    "CreateAccountInput.region": "Region (at most 100 characters)",
    "CreateAccountInput.website": "Web address (at most 300 characters, no spaces)",
    "CreateAccountInput.tags": "Labels; stored lower-case without repeats",
    "CreateAccountInput.ownerId": "The user who manages the customer",
    "CreateAccountInput.allowSimilar": "Create it although similar customers exist (after the user said it is another one)",
    "UpdateAccountInput.version": "The version last read; a stale one answers CONFLICT",
    "UpdateAccountInput.name": "New name: the same duplicate checks as createAccount",
    "UpdateAccountInput.industry": "New industry; null clears it",
    "UpdateAccountInput.region": "New region; null clears it",
    "UpdateAccountInput.website": "New web address; null clears it",
    "UpdateAccountInput.tags": "The new labels (replace the old ones)",
    "UpdateAccountInput.ownerId": "The new managing user; null clears it",
    "UpdateAccountInput.allowSimilar": "Rename although similar customers exist",
    "MergeAccountsInput.sourceId": "The customer that goes: its deals move to the target",
    "MergeAccountsInput.targetId": "The customer that stays",
    "MergeAccountsPayload.account": "The target customer after the merge",
    "OwnershipConflict": (
        "撞单: the card's customer has open deals of other owners, raised when a deal was created on it, "
        "until a manager or admin resolves it"
    ),
    "OwnershipConflict.opportunities": "The customer's other open deals, of other owners, that the viewer may see",
    "OwnershipConflict.since": "When the conflict was raised",
    "Opportunity.ownershipConflict": "The customer's open ownership conflict (撞单) while this card is open; null when there is none",
    "ResolveOwnershipConflictInput.accountId": "The customer whose conflict is resolved",
    "ResolveOwnershipConflictInput.keepOpportunityId": "The open deal that keeps the customer (recorded; no deal is changed)",
    "ResolveOwnershipConflictInput.note": "Why, for the record (at most 500 characters)",
    "ResolveOwnershipConflictPayload.account": "The customer; null when refused",
    # Contacts (联系人) and follow-ups (跟进记录) (schema/records.py)
    "Account.contacts": "The customer's contacts, oldest first (none when accounts are withheld from the viewer)",
    "Contact": (
        "A person at a customer (联系人); seen by whoever sees the customer. Phone numbers and email addresses "
        "are unique within the organization once normalized"
    ),
    "Contact.id": "Opaque global id (contacts are read through Account.contacts and Opportunity.contacts)",
    "Contact.name": "The person's name",
    "Contact.title": "Job title, when known",
    "Contact.phone": "Phone number as entered, when known",
    "Contact.email": "Email address as entered, when known",
    "Contact.wechat": "WeChat id, when known",
    "Contact.version": _VERSION,
    "Contact.account": "The customer the person works for",
    "ContactPayload.contact": "The contact as written; null when refused",
    "ContactRole": "A contact's part in a deal's decision",
    "ContactRole.DECISION_MAKER": "Decides (决策人)",
    "ContactRole.INFLUENCER": "Influences the decision (影响人)",
    "ContactRole.USER": "Will use what is sold (使用人)",
    "ContactRole.GATEKEEPER": "Controls access to the decision makers (把关人)",
    "CreateContactInput.accountId": "The customer the person works for (one the viewer sees)",
    "CreateContactInput.name": "The person's name (required, at most 100 characters)",
    "CreateContactInput.title": "Job title (at most 100 characters)",
    "CreateContactInput.phone": (
        "Phone number: digits, spaces, dashes, parentheses and an optional leading +; another contact with the same "
        "digits (a leading +86 or 0086 ignored) answers DUPLICATE"
    ),
    "CreateContactInput.email": "Email address; another contact with the same address in any letter case answers DUPLICATE",
    "CreateContactInput.wechat": "WeChat id (at most 100 characters)",
    "UpdateContactInput.version": "The version last read; a stale one answers CONFLICT",
    "UpdateContactInput.name": "New name",
    "UpdateContactInput.title": "New job title; null clears it",
    "UpdateContactInput.phone": "New phone number (the same checks as createContact); null clears it",
    "UpdateContactInput.email": "New email address (the same checks as createContact); null clears it",
    "UpdateContactInput.wechat": "New WeChat id; null clears it",
    "LinkContactInput.opportunityId": "The card (one the viewer sees and may write)",
    "LinkContactInput.contactId": "A contact of the card's customer",
    "LinkContactInput.role": "The contact's part in this deal; linking a linked contact again changes it",
    "LinkContactPayload.opportunity": "The card after the change (see Opportunity.contacts); null when refused",
    "UnlinkContactInput.opportunityId": "The card (one the viewer sees and may write)",
    "UnlinkContactInput.contactId": "The contact to take off the card",
    "OpportunityContact": "A contact on a deal and their role in it",
    "OpportunityContact.contact": "The person",
    "OpportunityContact.role": "Their part in this deal's decision",
    "Opportunity.contacts": "The card's contacts (of its customer) with their roles, in the order they were linked; none when accounts are withheld",
    "Opportunity.followUps": "The card's follow-ups (跟进记录), the last logged first",
    "Opportunity.lastContactAt": "When the customer was last contacted: the latest follow-up's time (null: none logged)",
    "Opportunity.lastContactKind": "How the customer was last contacted: the latest follow-up's kind (null: none logged)",
    "Opportunity.nextFollowUpAt": "The next follow-up planned by the latest follow-up (null: none planned)",
    "Opportunity.customerSilent": "Customer silence: no follow-up for longer than the stage's `silenceAfterHours` (from `lastContactAt`, or from `stageEnteredAt` when none was logged)",
    "FollowUp": "A call, visit, meeting or message with the customer on a deal (跟进记录)",
    "FollowUp.id": "Opaque global id (follow-ups are read through Opportunity.followUps)",
    "FollowUp.kind": "How the customer was contacted",
    "FollowUp.at": "When the contact took place (UTC)",
    "FollowUp.summary": "What was discussed",
    "FollowUp.outcome": "What came of it, when written",
    "FollowUp.nextStep": "What is planned next, when written",
    "FollowUp.nextFollowUpAt": "When the next follow-up is planned, when set",
    "FollowUp.author": "The user who logged it",
    "FollowUp.contact": "The customer's contact it was with, when named (null when accounts are withheld from the viewer)",
    "FollowUp.opportunity": "The card it is on",
    "FollowUpKind": "How a customer was contacted",
    "FollowUpKind.CALL": "A phone call (电话)",
    "FollowUpKind.VISIT": "A visit (拜访)",
    "FollowUpKind.MEETING": "A meeting (会议)",
    "FollowUpKind.WECHAT": "WeChat messages (微信)",
    "FollowUpKind.EMAIL": "Email (邮件)",
    "FollowUpKind.OTHER": "Any other way",
    "FollowUpPayload.followUp": "The follow-up as logged; null when refused",
    "LogFollowUpInput.opportunityId": "The card (one the viewer sees and may write)",
    "LogFollowUpInput.kind": "How the customer was contacted",
    "LogFollowUpInput.at": "When it took place: not in the future",
    "LogFollowUpInput.summary": "What was discussed (required, at most 5000 characters)",
    "LogFollowUpInput.contactId": "The contact of the card's customer it was with",
    "LogFollowUpInput.outcome": "What came of it (at most 1000 characters)",
    "LogFollowUpInput.nextStep": "What is planned next (at most 500 characters)",
    "LogFollowUpInput.nextFollowUpAt": "When the next follow-up is planned: after `at`",
    "Mutation.createContact": "Add a contact to a customer the viewer sees (writers): VALIDATION for a malformed phone or email, DUPLICATE when its phone or email is taken",
    "Mutation.updateContact": "Change a contact (writers who see its customer): CONFLICT on a stale version, the same checks as createContact",
    "Mutation.linkContact": "Put a contact of the card's customer on the card with a role, or change its role (the card's writers)",
    "Mutation.unlinkContact": "Take a contact off a card (the card's writers); NOT_FOUND when it is not on it",
    "Mutation.logFollowUp": (
        "Log a follow-up on a card (the card's writers): the card's lastContactAt moves forward to `at` and, when it is "
        "the latest contact, nextFollowUpAt becomes its plan; the card's version does not change"
    ),
    # ---- attachments (schema/attachments.py)
    "Opportunity.attachments": "Files on the card, newest first (at most 100)",
    "Attachment": "A file on a deal (报价单, 合同, ...), kept once per content",
    "Attachment.id": "Opaque global id (`node(id:)` fetches it while its card is visible)",
    "Attachment.kind": "What the file is for, a lowercase key such as quote, contract, signed_contract or other (Stage.requiredFiles names these)",
    "Attachment.name": "The file name as shown and downloaded (path parts, control characters and leading dots removed)",
    "Attachment.contentType": "The media type judged from the file's bytes (not the one the client sent)",
    "Attachment.size": "Size in bytes",
    "Attachment.sha256": "SHA-256 of the content, in lowercase hex",
    "Attachment.uploadedBy": "Who attached it (null when that user is gone)",
    "Attachment.createdAt": "When it was attached",
    "Attachment.downloadUrl": (
        "A signed link to the file (GET, relative to the server), good for 10 minutes and for this viewer only: it "
        "carries no token, and the download re-checks that the viewer still sees the card"
    ),
    "AttachFileInput.opportunityId": "The card (one the viewer sees and may write)",
    "AttachFileInput.kind": "What the file is for: 1 to 40 of a-z, 0-9, _ (e.g. quote)",
    "AttachFileInput.file": (
        "The file, as a GraphQL multipart request part; at most BATON_MAX_ATTACHMENT_MB (20 MB unless configured). "
        "Programs and web pages (HTML, SVG) are refused"
    ),
    "AttachFilePayload.attachment": "The attachment as stored; null when refused",
    "AttachFilePayload.opportunity": "The card it is on; null when refused",
    "RemoveAttachmentInput.id": "The attachment to remove",
    "RemoveAttachmentPayload.opportunity": "The card it was on; null when refused",
    "Mutation.attachFile": (
        "Attach a file to a card (the card's writers): an ATTACHMENT_ADDED event; VALIDATION on `file` when it is "
        "empty, too large, a program or a web page, on `kind` when the kind is malformed"
    ),
    "Mutation.removeAttachment": (
        "Remove a file from its card (whoever uploaded it, the card's owner or an admin; FORBIDDEN otherwise): an "
        "ATTACHMENT_REMOVED event"
    ),
    "Opportunity": "A deal: a card on the board",
    "Opportunity.title": "What the deal is",
    "Opportunity.currency": "ISO 4217 code of `amount`",
    "Opportunity.priority": "How urgent the deal is",
    "Opportunity.tags": "Free labels",
    "Opportunity.source": "Where the lead came from (线索来源), e.g. 展会 or Website; null when not recorded",
    "Opportunity.lastActivityAt": "Last activity on the card; staleness (`staleAfterHours`) counts from here",
    "Opportunity.stageEnteredAt": "When the card entered its current stage",
    "Opportunity.version": _VERSION,
    "Opportunity.amount": "Deal value in `currency`, two decimals; null when unknown or withheld from the viewer",
    "Opportunity.probability": "Chance of winning, 0-100",
    "Opportunity.expectedCloseDate": "When the deal is expected to close",
    "Opportunity.nextStep": "What happens next, in words",
    "Opportunity.lostReason": "Why the deal was lost (set on the move to a LOST stage)",
    "Opportunity.account": "The customer",
    "Opportunity.pipeline": "The pipeline the card moves through",
    "Opportunity.stage": "The card's column",
    "Opportunity.owner": "Who is responsible for the deal",
    "Opportunity.tasks": "The card's tasks, oldest first",
    "Opportunity.comments": "The card's comments, oldest first",
    "Opportunity.handoffs": "The card's handoffs (its 20 newest)",
    "Opportunity.approvals": "The card's approvals (its 10 newest)",
    "Opportunity.history(first)": FIRST,
    "OpportunityConnection": "A page of opportunities",
    "OpportunityEdge": "An opportunity and its cursor",
    "OpportunityFilter": "Narrows cards; every criterion given must hold, a list matches any of its values",
    "OpportunityFilter.ids": (
        "Only these cards (at most 100 ids): with the board's other criteria, what a board asks about the cards "
        "live events named, to learn where each now belongs (docs/api.md, \"How a board applies events\")"
    ),
    "OpportunityFilter.ownerIds": "Cards owned by any of these users",
    "OpportunityFilter.departmentKeys": "Cards held by any of these departments (who holds the baton)",
    "OpportunityFilter.stageKeys": "Cards in any of these stages",
    "OpportunityFilter.tags": "Cards with any of these tags",
    "OpportunityFilter.priority": "Cards with any of these priorities",
    "OpportunityFilter.search": "Text in the title or the account name, case-insensitive",
    "OpportunityFilter.sources": "Cards whose source is any of these (case-insensitive, surrounding spaces ignored)",
    "OpportunityFilter.staleOnly": "Only cards past their stage's `staleAfterHours`",
    "OpportunityFilter.silentOnly": "Only cards in customer silence (`customerSilent`)",
    "OpportunityPayload.opportunity": "The card as written; null when refused",
    "Board": "A pipeline's kanban as the viewer sees it",
    "Board.pipeline": "The pipeline shown",
    "Board.columns": "One column per stage, in order",
    "BoardColumn": "A stage's column under the board's filter",
    "BoardColumn.stage": "The stage",
    "BoardColumn.totalCount": "Cards in the column (under the filter, visible to the viewer)",
    "BoardColumn.opportunities": "The column's cards, newest first",
    "CreateOpportunityInput.title": "What the deal is (1-200 characters)",
    "CreateOpportunityInput.accountName": "The customer; an existing account with that name (ignoring case and spacing) is reused",
    "CreateOpportunityInput.amount": "Deal value, at least 0, two decimals",
    "CreateOpportunityInput.currency": "ISO 4217 code; omitted: the organization's base currency",
    "CreateOpportunityInput.probability": "Chance of winning, 0-100",
    "CreateOpportunityInput.expectedCloseDate": "When the deal is expected to close",
    "CreateOpportunityInput.priority": "Omitted: MEDIUM",
    "CreateOpportunityInput.tags": "Free labels",
    "CreateOpportunityInput.source": "Where the lead came from (trimmed, up to 100 characters; blank: none); assignment rules may match on it",
    "CreateOpportunityInput.nextStep": "What happens next, in words",
    "CreateOpportunityInput.ownerId": "The owner; omitted: the viewer",
    "CreateOpportunityInput.pipelineId": "Omitted: the organization's first pipeline",
    "CreateOpportunityInput.stageKey": "Start in this stage (its gates and those before it apply); omitted: the first stage",
    "CreateOpportunityInput.clientMutationId": "A key of the client's choosing: the same key from the same user returns the first result",
    "UpdateOpportunityInput.id": "The card to change",
    "UpdateOpportunityInput.version": "The card's `version` as last read",
    "UpdateOpportunityInput.title": "New title (1-200 characters)",
    "UpdateOpportunityInput.amount": "New amount (at least 0); null clears it",
    "UpdateOpportunityInput.probability": "New probability, 0-100",
    "UpdateOpportunityInput.expectedCloseDate": "New expected close date",
    "UpdateOpportunityInput.priority": "New priority",
    "UpdateOpportunityInput.tags": "Replaces the tags",
    "UpdateOpportunityInput.source": "New source (trimmed, up to 100 characters); null or blank clears it",
    "UpdateOpportunityInput.nextStep": "New next step",
    "UpdateOpportunityInput.ownerId": "New owner (notified)",
    "MoveOpportunityInput.id": "The card to move",
    "MoveOpportunityInput.version": "The card's `version` as last read",
    "MoveOpportunityInput.stageKey": "The stage to move to",
    "MoveOpportunityInput.lostReason": "Why the deal was lost: required when moving to a LOST stage",
    # ------------------------------------------------------------ tasks and comments
    "TaskStatus": "Where a task stands",
    "TaskStatus.OPEN": "Not started",
    "TaskStatus.IN_PROGRESS": "Being worked on",
    "TaskStatus.DONE": "Finished",
    "TaskStatus.CANCELLED": "No longer needed",
    "Task": "Work to do on a card, for a department or a person",
    "Task.title": "What to do",
    "Task.description": "Details",
    "Task.status": "Where the task stands",
    "Task.dueAt": "Deadline; past it an unfinished task is overdue",
    "Task.completedAt": "When it was marked DONE",
    "Task.version": _VERSION,
    "Task.opportunity": "The card the task belongs to",
    "Task.assignee": "Who does it; null: anyone of the department",
    "Task.department": "The department responsible",
    "Task.overdue": "Past `dueAt` and neither DONE nor CANCELLED",
    "TaskConnection": "A page of tasks",
    "TaskEdge": "A task and its cursor",
    "TaskPayload.task": "The task as written; null when refused",
    "CreateTaskInput.opportunityId": "The card the task is for",
    "CreateTaskInput.title": "What to do (1-200 characters)",
    "CreateTaskInput.description": "Details",
    "CreateTaskInput.assigneeId": "Who does it (a member of the task's department)",
    "CreateTaskInput.departmentKey": "The department responsible; omitted: the assignee's, else the card's",
    "CreateTaskInput.dueAt": "Deadline",
    "UpdateTaskInput.id": "The task to change",
    "UpdateTaskInput.version": "The task's `version` as last read",
    "UpdateTaskInput.title": "New title",
    "UpdateTaskInput.description": "New details",
    "UpdateTaskInput.status": "New status",
    "UpdateTaskInput.assigneeId": "New assignee; null: unassigned",
    "UpdateTaskInput.dueAt": "New deadline; null clears it",
    "Comment": "A comment on a card or one of its tasks",
    "Comment.body": "The text, with @mentions as written",
    "Comment.author": "Who wrote it",
    "Comment.opportunity": "The card",
    "Comment.task": "The task it is about, if any",
    "Comment.mentions": "Users @mentioned by handle (at most 20)",
    "CommentConnection": "A page of comments",
    "CommentEdge": "A comment and its cursor",
    "CommentPayload.comment": "The comment as written; null when refused",
    "AddCommentInput.opportunityId": "The card to comment on",
    "AddCommentInput.body": "The text (at most 10,000 characters); @handle notifies a user, @sales, @legal, ... a department",
    "AddCommentInput.taskId": "A task of that card the comment is about",
    # ------------------------------------------------------------ handoffs
    "HandoffStatus": "Where a handoff stands",
    "HandoffStatus.PENDING": "Waiting for the receiving department",
    "HandoffStatus.ACCEPTED": "Accepted: the card moved to the receiving department",
    "HandoffStatus.DECLINED": "Declined by the receiving department",
    "HandoffStatus.CANCELLED": "Withdrawn by the requester",
    "Handoff": "A request for another department to take the baton of a card",
    "Handoff.note": "The requester's note",
    "Handoff.status": "Where it stands",
    "Handoff.responseNote": "The receiving department's note when answering",
    "Handoff.respondedAt": "When it was accepted, declined or cancelled",
    "Handoff.opportunity": "The card",
    "Handoff.fromDepartment": "The department that held the card",
    "Handoff.toDepartment": "The department asked to take it",
    "Handoff.requestedBy": "Who asked",
    "Handoff.assignee": "The person in the receiving department it is for, if named",
    "HandoffPayload.handoff": "The handoff as written; null when refused",
    "RequestHandoffInput.opportunityId": "The card to hand off",
    "RequestHandoffInput.toDepartmentKey": "The department asked to take it",
    "RequestHandoffInput.assigneeId": "A member of that department it is for",
    "RequestHandoffInput.note": "A note for the receiving department",
    "RespondHandoffInput.id": "The pending handoff",
    "RespondHandoffInput.accept": "true accepts (the card changes department), false declines",
    "RespondHandoffInput.note": "A note for the requester",
    "CancelHandoffInput.id": "The pending handoff to withdraw",
    # ------------------------------------------------------------ approvals
    "ApprovalMode": "How an approval's steps run",
    "ApprovalMode.SEQUENTIAL": "One step at a time, in order (依次)",
    "ApprovalMode.PARALLEL": "All steps at once",
    "ApprovalStepMode": "How a step's approvers decide",
    "ApprovalStepMode.ALL": "Every approver must approve (会签)",
    "ApprovalStepMode.ANY": "The first approval approves the step (或签)",
    "ApprovalStepMode.COUNT": "`minApprovals` of the approvers must approve (N of M)",
    "ApprovalTimeoutAction": "What a step's `finalAfterHours` does",
    "ApprovalTimeoutAction.RETURN": "Return the approval to the requester",
    "ApprovalTimeoutAction.APPROVE": "Approve the step",
    "ApprovalStatus.PENDING": "Waiting for decisions",
    "ApprovalStatus.APPROVED": "Approved",
    "ApprovalStatus.REJECTED": "Rejected (one rejection rejects the approval)",
    "ApprovalStatus.CANCELLED": "Withdrawn by the requester or an admin",
    "ApprovalStatus.RETURNED": "Sent back to the requester, who may edit and resubmit it",
    "ApprovalStatus.SUPERSEDED": "Was approved, but a field it locked changed since",
    "ApprovalStatus.SKIPPED": "Steps only: the step's condition does not hold for the card",
    "ApprovalActionKind": "What someone did on an approval",
    "ApprovalActionKind.APPROVED": "Approved their step",
    "ApprovalActionKind.REJECTED": "Rejected",
    "ApprovalActionKind.RETURNED": "Returned it to an earlier step or the requester (退回)",
    "ApprovalActionKind.RESUBMITTED": "The requester resubmitted a returned approval",
    "ApprovalActionKind.TRANSFERRED": "Handed their decision to a colleague (转交)",
    "ApprovalActionKind.SIGNER_ADDED": "Added a signer (加签)",
    "ApprovalActionKind.URGED": "Urged the open steps' approvers (催办)",
    "ApprovalActionKind.CANCELLED": "Withdrew the approval (撤回)",
    "ApprovalActionKind.REMINDED": "The step's remindAfterHours reminded its approvers",
    "ApprovalActionKind.ESCALATED": "The step's escalateAfterHours notified managers or admins",
    "SignerPlacement": "Where `addApprovalSigner` puts the new signer",
    "SignerPlacement.BEFORE": "A new step that decides first; then the adder's step reopens",
    "SignerPlacement.AFTER": "A new step right after the adder's",
    "SignerPlacement.WITH": "Into the adder's own step",
    "Approval": "A request for sign-off on a card: steps of approvers, run in order or all at once",
    "Approval.kind": "What is approved (e.g. `contract`); a stage may require an approved one of its kind",
    "Approval.mode": "Whether steps run in order or at once",
    "Approval.status": "Where it stands",
    "Approval.decidedAt": "When it was approved or rejected",
    "Approval.opportunity": "The card",
    "Approval.steps": "The steps in order",
    "Approval.requestedBy": "Who asked",
    "ApprovalConnection": "A page of approvals",
    "ApprovalEdge": "An approval and its cursor",
    "ApprovalDecision": "One action on an approval: who did what, when and with what comment",
    "ApprovalDecision.action": "What was done",
    "ApprovalDecision.comment": "The comment given",
    "ApprovalDecision.at": "When",
    "ApprovalStep": "One step of an approval and its approvers",
    "ApprovalStep.position": "Order in the approval, from 0 (a signer added before it shifts it; `id` stays)",
    "ApprovalStep.status": "Where the step stands (SKIPPED: its condition does not hold)",
    "ApprovalStep.decidedAt": "When the step was decided",
    "ApprovalStep.comment": "The deciding comment",
    "ApprovalStep.mode": "How its approvers decide",
    "ApprovalStep.department": "The department whose members (or role) approve",
    "ApprovalStep.decidedBy": "Who decided the step",
    "ApprovalPayload.approval": "The approval as written; null when refused",
    "ApprovalRule": "The approval a card asking to enter a stage gets (set with setStageApprovalRule)",
    "ApprovalRule.kind": "The approval kind; the stage requires it",
    "ApprovalRule.mode": "Whether steps run in order or at once",
    "ApprovalRule.locks": "Card fields that cannot change while the approval is pending",
    "ApprovalRule.steps": "The steps in order",
    "ApprovalRuleStep": "One step of an approval rule",
    "ApprovalRuleStep.role": "Approvers are this role of the department; null: any member",
    "ApprovalRuleStep.minApprovals": "With mode COUNT: approvals the step needs",
    "ApprovalRuleStep.finalAfterHours": "Hours after opening when `finalAction` happens; null: never",
    "ApprovalRuleStep.finalAction": "What happens after `finalAfterHours`",
    "ApprovalRuleStep.departmentKey": "The approving department; null when the step names users",
    "ApprovalRuleStep.mode": "How its approvers decide",
    "ApprovalRuleInput": "An approval rule: kind, mode, steps and locked fields",
    "ApprovalRuleInput.kind": "The approval kind (lowercase, at most 40 characters); the stage will require it",
    "ApprovalRuleInput.steps": "The steps in order (at least one)",
    "ApprovalRuleInput.mode": "SEQUENTIAL (default) or PARALLEL",
    "ApprovalRuleStepInput": "One step of an approval rule: a department (or one role of it) or named users",
    "ApprovalRuleStepInput.mode": "How its approvers decide (default ANY)",
    "ApprovalRuleStepInput.minApprovals": "With mode COUNT: approvals the step needs (at least 1)",
    "ApprovalRuleStepInput.amountAtLeast": "Apply the step only from this amount, in the card's currency; below it the step is SKIPPED",
    "ApprovalRuleStepInput.remindAfterHours": "Remind pending approvers after this many hours",
    "ApprovalRuleStepInput.escalateAfterHours": "Notify the department's managers after this many hours, admins after twice as long",
    "ApprovalRuleStepInput.finalAfterHours": "After this many hours, do `finalAction`",
    "ApprovalRuleStepInput.finalAction": "RETURN the approval to the requester or APPROVE the step",
    "RequestApprovalInput.opportunityId": "The card to approve",
    "RequestApprovalInput.kind": "What is approved, case-insensitive: one of `approvalKinds` for the gates, or an ad-hoc kind with `departmentKeys`",
    "RequestApprovalInput.departmentKeys": "One ANY step per department, in order; empty: the flow the pipeline's stage rule defines for `kind`",
    "RequestApprovalInput.mode": "SEQUENTIAL (default) or PARALLEL",
    "RequestApprovalInput.comment": "A note for the approvers",
    "DecideApprovalInput.id": "The approval",
    "DecideApprovalInput.approve": "true approves the viewer's step, false rejects the approval",
    "DecideApprovalInput.comment": "The reason, shown to the requester",
    "CancelApprovalInput.id": "The pending or returned approval to withdraw",
    "ReturnApprovalInput.id": "The approval",
    "ReturnApprovalInput.comment": "Why it goes back (required)",
    "ResubmitApprovalInput.id": "The returned approval",
    "ResubmitApprovalInput.comment": "What changed",
    "TransferApprovalStepInput.id": "The approval",
    "TransferApprovalStepInput.toUserId": "The colleague who decides in the viewer's place",
    "TransferApprovalStepInput.comment": "A note for the colleague",
    "AddApprovalSignerInput.id": "The approval",
    "AddApprovalSignerInput.userId": "The user to add",
    "AddApprovalSignerInput.placement": "Before, after or with the viewer's step",
    "AddApprovalSignerInput.comment": "A note for the new signer",
    "UrgeApprovalInput.id": "The pending approval",
    "UrgeApprovalInput.comment": "A note for the approvers",
    "SetStageApprovalRuleInput.stageId": "The stage",
    # ------------------------------------------------------------ pipelines and stage work
    "CreateStageInput.pipelineId": "The pipeline to add the stage to",
    "CreateStageInput.key": "Stable short name, unique in the pipeline",
    "CreateStageInput.name": "Display name; omitted: from the key",
    "CreateStageInput.kind": "Omitted: OPEN",
    "CreateStageInput.position": "Where to insert it (later stages move right); omitted: last",
    "CreateStageInput.requiredFields": "Card fields required to enter",
    "CreateStageInput.requiredApprovals": "Approval kinds required to enter",
    "CreateStageInput.requiredFiles": "Attachment kinds required to enter: each 1 to 40 of a-z, 0-9, _; at most 10",
    "CreateStageInput.staleAfterHours": "Hours without activity after which a card is stale",
    "CreateStageInput.silenceAfterHours": "Hours without a follow-up after which the customer counts as silent (1..8760)",
    "CreateStageInput.autoApproval": "The older rule shape {kind, departmentKeys, mode}; prefer setStageApprovalRule",
    "UpdateStageInput.id": "The stage to change",
    "UpdateStageInput.name": "New display name",
    "UpdateStageInput.requiredFields": "Replaces the required fields",
    "UpdateStageInput.requiredApprovals": "Replaces the required approval kinds",
    "UpdateStageInput.requiredFiles": "Replaces the required attachment kinds (each 1 to 40 of a-z, 0-9, _; at most 10)",
    "UpdateStageInput.staleAfterHours": "New staleness threshold; null: never stale",
    "UpdateStageInput.silenceAfterHours": "New customer-silence threshold (1..8760); null: never silent",
    "StagePayload.stage": "The stage as written; null when refused",
    # ---- pipeline settings: order, archive, restore, preview (issue 24)
    "Mutation.reorderStages": (
        "Admins: put the pipeline's unarchived stages in a new order (columns follow at once: a PIPELINE_UPDATED "
        "event with `order` [old keys, new keys]); VALIDATION on stageIds when it is not every unarchived stage once"
    ),
    "ReorderStagesInput.pipelineId": "The pipeline whose stages to reorder",
    "ReorderStagesInput.stageIds": "Every unarchived stage of the pipeline, each once, in the new order",
    "PipelineStagesPayload.stages": "The pipeline's unarchived stages in their new order; empty when refused",
    "Mutation.archiveStage": (
        "Admins: take a stage off the board. Its cards move to `moveCardsToStageId` in the same step, each with "
        "its own OPPORTUNITY_MOVED (OPPORTUNITY_LOST into a lost stage) event; the target's gates are not checked: "
        "an admin's decision, like editing a gate under cards already past it. Refused (VALIDATION) for the last "
        "open stage and the only won or lost stage; archived stages cannot be entered"
    ),
    "ArchiveStageInput.stageId": "The stage to archive",
    "ArchiveStageInput.moveCardsToStageId": (
        "Where its cards go: another unarchived stage of the same pipeline; required when the stage holds cards"
    ),
    "ArchiveStagePayload.stage": "The archived stage; null when refused",
    "ArchiveStagePayload.movedCount": "How many cards were moved out of it (0 when refused)",
    "Mutation.restoreStage": (
        "Admins: bring an archived stage back to the board: an open stage after the open stages, a won one "
        "before the lost ones, a lost one last (reorderStages places it elsewhere)"
    ),
    "StageIdInput": "A stage named by its id",
    "StageIdInput.id": "The stage",
    "Query.previewStageChange": (
        "Admins (FORBIDDEN otherwise): what updateStage with the same input would do to the stage's cards, "
        "writing nothing. Input updateStage would refuse is a GraphQL error with its code (VALIDATION, NOT_FOUND)"
    ),
    "Query.previewStageChange(input)": "The change as it would be sent to updateStage",
    "StageChangePreview": "What a stage change would do to the cards in the stage, judged as a move into it is",
    "StageChangePreview.cardsInStage": "Cards in the stage now",
    "StageChangePreview.cardsFailingGate": "Of those, how many would not pass the changed gate (required fields and approvals)",
    "StageChangePreview.cardsNewlyFailing": "Of those, how many pass the gate as it is today",
    "StageChangePreview.summary": "In the viewer's language, e.g. \"3 cards in Proposal would no longer pass the gate\"",
    "Query.configurationLog": (
        "Admins only (FORBIDDEN otherwise, also for a department-scoped token): every configuration change, newest "
        "first: CONFIGURATION_CHANGED (people, departments, API tokens, webhooks, channels, the organization's "
        "language) with its actor and changes {subject, target, action, field: [before, after]} (never a secret), "
        "PIPELINE_UPDATED, ACCESS_RULES_UPDATED and MONEY_SETTINGS_UPDATED"
    ),
    "Query.configurationLog(first)": "How many events (default 25, at most BATON_MAX_PAGE_SIZE)",
    "Query.configurationLog(after)": "A cursor from the previous page: older events follow",
    "Query.configurationLog(subject)": (
        "Only this subject: a CONFIGURATION_CHANGED `subject` (user, invite, department, apiToken, webhook, channel, "
        "organization), or pipeline, accessRules, money for those changes' own event types"
    ),
    "StageOwner": "The department that owns a stage (节点负责人): entering it hands the card over",
    "StageOwner.role": "Only this role of the department receives the handoff; null: any member",
    "StageOwner.department": "The owning department",
    "StageOwnerInput": "Who owns a stage",
    "StageOwnerInput.departmentKey": "The owning department",
    "StageOwnerInput.role": "Only this role of it",
    "StageOwnerInput.userId": "A named member, who becomes the handoff's assignee",
    "StageOwnerInput.autoAccept": "Accept the automatic handoff at once",
    "StageDeliverable": "Something a stage must produce (交付物), ticked by its department",
    "StageDeliverable.key": "Stable short name, unique in the stage",
    "StageDeliverable.title": "What it is",
    "StageDeliverable.departmentKey": "The department that ticks it",
    "StageDeliverableInput": "A deliverable of a stage",
    "StageDeliverableInput.title": "What it is",
    "StageDeliverableInput.departmentKey": "The department that ticks it",
    "StageDeliverableInput.field": "A card field that must be filled before it can be ticked",
    "SetStageWorkInput.stageId": "The stage",
    "SetStageWorkInput.deliverables": "Replaces the stage's deliverables",
    "SetStageWorkInput.requirePreviousDeliverables": "Entering the stage needs every deliverable of the stage before it",
    "DeliverableState": "A deliverable of the card's current stage and whether it is done",
    "DeliverableState.key": "The deliverable's key",
    "DeliverableState.title": "What it is",
    "DeliverableState.departmentKey": "The department that ticks it",
    "DeliverableState.done": "Whether it is ticked",
    "DeliverableState.doneAt": "When it was ticked",
    "DeliverableState.doneBy": "Who ticked it",
    "CheckDeliverableInput.opportunityId": "The card",
    "CheckDeliverableInput.stageKey": "The stage the deliverable belongs to",
    "CheckDeliverableInput.key": "The deliverable's key",
    "CheckDeliverableInput.done": "true ticks, false unticks",
    "StageTime": "Time a card spent in one stage, from its moves in the event log",
    "StageTime.stageKey": "The stage",
    "StageTime.hours": "Hours spent there in all",
    "DepartmentTime": "Time a department held the card during a stage",
    "DepartmentTime.hours": "Hours",
    "DepartmentTime.department": "The department; null when it no longer exists",
    # ------------------------------------------------------------ notifications
    "Notification.createdAt": "When it was sent",
    "Notification.read": "Whether the viewer marked it read",
    "Notification.opportunity": "The card it is about, if any (null when the viewer no longer sees it)",
    "NotificationConnection": "A page of the inbox, plus how many notifications are unread in all",
    "NotificationConnection.unreadCount": "Unread notifications in the whole inbox",
    "NotificationEdge": "A notification and its cursor",
    "MarkNotificationsReadInput": "Input of `markNotificationsRead`",
    "MarkNotificationsReadPayload.unreadCount": "Unread notifications left",
    "ChannelType": "Where a channel sends",
    "ChannelType.EMAIL": "Email over SMTP",
    "ChannelType.FEISHU": "A Feishu (Lark) group bot",
    "ChannelType.DINGTALK": "A DingTalk group bot",
    "ChannelType.WECOM": "A WeCom (企业微信) group bot",
    "NotificationChannel.type": "Where it sends",
    "NotificationChannel.name": "Display name",
    "NotificationChannel.enabled": "Disabled channels receive nothing",
    "NotificationChannel.failingSince": "First failed delivery of the current run of failures; null when healthy",
    "NotificationChannelConnection": "A page of notification channels",
    "NotificationChannelEdge": "A channel and its cursor",
    "NotificationChannelPayload.channel": "The channel as written; null when refused",
    "NotificationChannelIdInput.id": "The channel",
    "DeleteNotificationChannelPayload.deletedId": "The deleted channel's id; null when refused",
    "SetNotificationChannelInput.type": "Where it sends (required for a new channel)",
    "SetNotificationChannelInput.name": "Display name",
    "SetNotificationChannelInput.kinds": "A department's channel: the notification kinds it hears; empty: all",
    "SetNotificationChannelInput.enabled": "false stops sending",
    "ChannelDeliveryStatus": "Where a channel message stands",
    "ChannelDeliveryStatus.PENDING": "Queued or waiting for a retry",
    "ChannelDeliveryStatus.DELIVERED": "Accepted by the channel",
    "ChannelDeliveryStatus.FAILED": "Given up after its attempts",
    "ChannelDelivery.eventSeq": "The event that caused it; null for digests and tests",
    "ChannelDelivery.status": "Where it stands",
    "ChannelDelivery.attempts": "Attempts made",
    "ChannelDelivery.nextAttemptAt": "When it is tried next; null when done",
    "ChannelDelivery.lastAttemptAt": "When it was last tried",
    "ChannelDelivery.lastStatusCode": "Status code the channel answered on the last attempt",
    "ChannelDelivery.lastError": "Why the last attempt failed",
    "ChannelDelivery.deliveredAt": "When it was delivered",
    "ChannelDelivery.channelId": "The channel's global id",
    "ChannelDeliveryConnection": "A page of channel deliveries",
    "ChannelDeliveryEdge": "A channel delivery and its cursor",
    "NotificationPreferences.timeZone": "IANA time zone of the quiet hours and digest time (e.g. Asia/Shanghai)",
    "NotificationPreferences.quietHoursEnd": "HH:MM local time; messages held during quiet hours go out then",
    "NotificationPreferencesPayload.preferences": "The preferences as written; null when refused",
    "NotificationRoute": "Which of the viewer's channels one notification kind goes to",
    "NotificationRoute.kind": "The notification kind (see NotificationKind, lowercase)",
    "NotificationRouteInput": "Route one notification kind to some of your channels",
    "NotificationRouteInput.kind": "The notification kind (lowercase, e.g. `approval`)",
    "NotificationRouteInput.channelIds": "Your channels to send it to",
    "SetNotificationPreferencesInput.timeZone": "IANA time zone",
    "SetNotificationPreferencesInput.quietHoursStart": "HH:MM local time; null: no quiet hours",
    "SetNotificationPreferencesInput.quietHoursEnd": "HH:MM local time",
    "SetNotificationPreferencesInput.digestTime": "HH:MM local time of the daily digest; null: none",
    "EscalationKind": "What an escalation rule watches",
    "EscalationKind.STALE_DEAL": "Cards past their stage's staleAfterHours",
    "EscalationKind.OVERDUE_TASK": "Tasks past their due time",
    "EscalationKind.PENDING_HANDOFF": "Handoffs left unanswered",
    "EscalationKind.FOLLOW_UP_DUE": "Cards whose planned follow-up (nextFollowUpAt) passed with none logged since",
    "EscalationKind.CUSTOMER_SILENCE": "Cards past their stage's silenceAfterHours without a follow-up",
    "EscalationRule.adminsAfterHours": "Hours after the alert began until admins are notified; null: never",
    "EscalationRule.kind": "What it watches",
    "EscalationRulePayload.rule": "The rule as written; null when refused",
    "SetEscalationRuleInput.kind": "What the rule watches (one rule per kind and stage)",
    "SetEscalationRuleInput.stageKey": "STALE_DEAL and CUSTOMER_SILENCE only: one stage; omitted: every stage",
    "SetEscalationRuleInput.alertAfterHours": "PENDING_HANDOFF: hours until the first alert",
    "SetEscalationRuleInput.managersAfterHours": "Hours after the alert until managers are notified; null: never",
    "SetEscalationRuleInput.adminsAfterHours": "Hours after the alert until admins are notified; null: never",
    # ------------------------------------------------------------ access rules
    "DataScope": "Which cards an access rule lets its users see (cards they are involved in stay visible)",
    "DataScope.OWN": "Cards they own",
    "DataScope.DEPARTMENT": "Cards owned by members of their department",
    "DataScope.ALL": "Every card",
    "AccessRule.role": "The role it applies to",
    "AccessRule.scope": "Which cards they see",
    "AccessRule.departmentKey": "The department it applies to; null: every department (a department's rule wins)",
    "SetAccessRuleInput.role": "The role it applies to",
    "SetAccessRuleInput.scope": "Which cards they see",
    "SetAccessRuleInput.hiddenFields": "Card fields withheld from them (e.g. `amount`, `account`)",
    "SetAccessRulePayload.accessRule": "The rule as written; null when refused",
    "Query.accessPreview": (
        "Admins only (FORBIDDEN otherwise): \"view as\" one user, what the access rules as they stand let them see; "
        "computed with the same rule lookup and card predicate as their own reads, so it never disagrees"
    ),
    "Query.accessPreview(userId)": "The user to look through (any user of the organization, deactivated too)",
    "AccessPreview": "What one user sees under the access rules: the rule that applies, how many cards, which fields are withheld",
    "AccessPreview.user": "The user previewed",
    "AccessPreview.rule": "The rule that applies (their department's over their role's general one); null: none (or an admin), they see every card",
    "AccessPreview.visibleCards": "Cards they see: in their rule's scope or involving them (what their `opportunities` totalCount answers)",
    "AccessPreview.totalCards": "Every card of the organization",
    "AccessPreview.hiddenFields": "Card fields withheld from them, by API name (amount, account, ...); empty: none",
    "AccessPreview.sampleTitles": "Up to 5 titles of cards they see, oldest first",
    # ------------------------------------------------------------ analytics and money
    "Analytics": "Funnel and cycle figures from the event log, over the cards the viewer may see",
    "Analytics.funnel": "One entry per stage, in order",
    "Analytics.winRate": "Won / (won + lost), 0-1; null when none closed",
    "Analytics.medianCycleDays": "Median days from creation to won",
    "Analytics.medianHandoffResponseHours": "Median hours until a handoff was accepted or declined",
    "Analytics.medianApprovalHours": "Median hours from an approval's request to its decision",
    "FunnelStage": "One stage of the funnel",
    "FunnelStage.stage": "The stage",
    "FunnelStage.current": "Cards in the stage now",
    "FunnelStage.medianHoursInStage": "Median hours cards stayed before leaving",
    "Money.amount": "The sum, two decimals",
    "ExchangeRate.currency": "ISO 4217 code converted",
    "ExchangeRate.baseCurrency": "The base currency it converts into",
    "ExchangeRate.date": "The day it applies from",
    "SetExchangeRateInput.currency": "ISO 4217 code (not the base currency)",
    "SetExchangeRatePayload.exchangeRate": "The rate as written; null when refused",
    "SetBaseCurrencyInput.currency": "ISO 4217 code",
    "SetBaseCurrencyPayload.baseCurrency": "The base currency now; null when refused",
    # ------------------------------------------------------------ integrations
    "TokenScope": "What an API token may do",
    "TokenScope.READ": "Queries and subscriptions only",
    "TokenScope.WRITE": "Mutations too",
    "ApiToken": "A long-lived token for a tool; acts as a user with that user's access rules",
    "ApiToken.name": "What it is for",
    "ApiToken.lastUsedAt": "When it was last used",
    "ApiToken.revokedAt": "When it was revoked; null while it works",
    "ApiToken.expiresAt": "When it stops working; null: never",
    "ApiToken.scope": "What it may do",
    "ApiTokenConnection": "A page of API tokens",
    "ApiTokenEdge": "An API token and its cursor",
    "ApiTokenPayload.apiToken": "The token as written; null when refused",
    "CreateApiTokenPayload.apiToken": "The new token's record; null when refused",
    "CreateApiTokenInput.name": "What it is for",
    "CreateApiTokenInput.scope": "READ or WRITE (at most the creating token's own)",
    "CreateApiTokenInput.departmentKey": "Scope it to one department: it acts as that department's integration member",
    "RevokeApiTokenInput.id": "The token to revoke",
    "Webhook": "An endpoint Baton POSTs events to, signed with its own secret",
    "Webhook.url": "Where events are POSTed",
    "Webhook.enabled": "Disabled endpoints receive nothing",
    "Webhook.failingSince": "First failed delivery of the current run of failures; null when healthy",
    "Webhook.disabledAt": "When Baton disabled it after failing too long",
    "Webhook.disabledReason": "Why Baton disabled it",
    "Webhook.deliveries(status)": "Only deliveries in one of these statuses",
    "WebhookPayload.webhook": "The endpoint as written; null when refused",
    "CreateWebhookPayload.webhook": "The new endpoint; null when refused",
    "DeleteWebhookPayload.deletedId": "The deleted endpoint's id; null when refused",
    "CreateWebhookInput.url": "Where to send events (HTTPS; private and loopback addresses are refused)",
    "UpdateWebhookInput.id": "The endpoint to change",
    "UpdateWebhookInput.url": "New address",
    "UpdateWebhookInput.eventTypes": "Only these event types; empty: all",
    "UpdateWebhookInput.departmentKeys": "Only events of these departments; empty: all",
    "UpdateWebhookInput.enabled": "false stops deliveries; true re-enables a disabled endpoint",
    "UpdateWebhookInput.actsAsUserId": "The user whose access rules decide what the endpoint receives",
    "UpdateWebhookInput.actsAsDepartmentKey": "Act as this department's integration member",
    "DeleteWebhookInput.id": "The endpoint to delete",
    "WebhookDeliveryStatus": "Where a webhook delivery stands",
    "WebhookDeliveryStatus.PENDING": "Queued or waiting for a retry",
    "WebhookDeliveryStatus.DELIVERED": "The endpoint answered 2xx",
    "WebhookDeliveryStatus.FAILED": "Given up after its attempts",
    "WebhookDelivery": "One event sent to one webhook endpoint and its attempts",
    "WebhookDelivery.eventSeq": "The event's seq",
    "WebhookDelivery.eventType": "The event's type",
    "WebhookDelivery.status": "Where it stands",
    "WebhookDelivery.attempts": "Attempts made",
    "WebhookDelivery.nextAttemptAt": "When it is tried next; null when done",
    "WebhookDelivery.lastAttemptAt": "When it was last tried",
    "WebhookDelivery.lastStatusCode": "HTTP status of the last attempt",
    "WebhookDelivery.lastError": "Why the last attempt failed",
    "WebhookDelivery.deliveredAt": "When the endpoint accepted it",
    "WebhookDelivery.redeliveryOf": "The delivery this one repeats (redeliverWebhook)",
    "WebhookDeliveryConnection": "A page of webhook deliveries",
    "WebhookDeliveryEdge": "A webhook delivery and its cursor",
    "RedeliverWebhookInput.deliveryId": "The delivery to send again",
    "RedeliverWebhookPayload.delivery": "The new delivery; null when refused",
    "ImportOpportunitiesInput.file": "A CSV or XLSX file (multipart upload), English or Chinese headers",
    "ImportOpportunitiesInput.dryRun": "Check every row and write nothing",
    "ImportOpportunitiesPayload.rows": "Data rows read",
    "ImportOpportunitiesPayload.valid": "Rows that passed the checks",
    "ImportOpportunitiesPayload.created": "Opportunities created (0 on a dry run)",
    "ImportOpportunitiesPayload.accountsCreated": "New accounts made",
    "ImportOpportunitiesPayload.dryRun": "Whether nothing was written",
    "ImportOpportunitiesPayload.rejected": "Rows refused and why (at most the first 1000)",
    "ImportRejection": "A spreadsheet row that was refused",
    "ImportRejection.reasons": "Every problem of the row, in words",
    "ImportRejection.code": "VALIDATION; CONFLICT: the deal changed since the export; NOT_FOUND: an id or deal you cannot see",
    "ImportRejection.sheet": "contacts or follow_ups for a workbook's other sheets; null for the deals' sheet",
    "ImportOpportunitiesInput.owner": "The user who owns new rows without an owner; without it such rows are refused",
    "ImportOpportunitiesInput.allowDuplicates": "Create rows without an ID even when a deal with the same customer and title exists",
    "ImportOpportunitiesPayload.updated": "Deals changed by rows with their ID (0 on a dry run)",
    "ImportOpportunitiesPayload.unchanged": "Rows with an ID whose values all equal the deal's",
    "ImportOpportunitiesPayload.conflicts": "Rows whose deal changed since the export (Version); rejected, not applied",
    "ImportOpportunitiesPayload.existingRows": "Rows without an ID skipped because a deal with the same customer (name key) and title exists (at most the first 1000)",
    "ImportOpportunitiesPayload.ownerGiven": "New rows without an owner given to the input's owner",
    "ImportOpportunitiesPayload.contactsCreated": "Contacts created from a Contacts/联系人 sheet (0 on a dry run)",
    "ImportOpportunitiesPayload.contactsExisting": "Contact rows matching a contact already there (phone or email), not created again",
    "ImportOpportunitiesPayload.contactsLinked": "Contacts put on a deal or given a new role there",
    "ImportOpportunitiesPayload.followUpsCreated": "Follow-ups logged from a Follow-ups/跟进记录 sheet (0 on a dry run)",
    "ImportOpportunitiesPayload.followUpsExisting": "Follow-up rows already logged (same deal, time and summary), skipped",
    "ExportFormat": "Spreadsheet format of an export",
    "ExportFormat.CSV": "UTF-8 CSV",
    "ExportFormat.XLSX": "Excel workbook",
    "ExportLinkPayload.expiresAt": "When the link stops working",
    "CreateExportLinkInput.format": "CSV or XLSX",
    "CreateExportLinkInput.filter": "Which cards, as for `opportunities`",
    # ------------------------------------------------------------ events
    "BoardEvent": "One committed change, from the organization's gapless event log",
    "BoardEvent.seq": "Position in the organization's log: gapless and increasing; poll with `events(after: seq)`",
    "BoardEvent.type": "What happened",
    "BoardEvent.occurredAt": "When it was committed",
    "BoardEvent.departmentKeys": "Departments concerned (those narrowing on departmentKeys receive it)",
    "BoardEvent.changes": (
        "What changed, as a JSON object: [before, after] pairs for fields and details such as an approval's step "
        "and decision (see `fieldChanges` for the typed pairs)"
    ),
    "BoardEvent.actor": "Who made the change; null for the system (alerts, timeouts)",
    "BoardEvent.opportunity": "The card concerned, if any and visible",
    "BoardEvent.task": "The task concerned, if any",
    "BoardEvent.comment": "The comment concerned, if any",
    "BoardEvent.handoff": "The handoff concerned, if any",
    "BoardEvent.approval": "The approval concerned, if any",
    "BoardEventConnection": "A page of events",
    "BoardEventEdge": "An event and its cursor",
    "BoardEventType": "What an event records",
    "BoardEventType.OPPORTUNITY_CREATED": "A card was created",
    "BoardEventType.OPPORTUNITY_UPDATED": "A card's details changed",
    "BoardEventType.OPPORTUNITY_MOVED": "A card moved to another stage",
    "BoardEventType.OPPORTUNITY_LOST": "A card moved to a LOST stage",
    "BoardEventType.TASK_CREATED": "A task was added",
    "BoardEventType.TASK_UPDATED": "A task changed",
    "BoardEventType.COMMENT_ADDED": "A comment was added",
    "BoardEventType.HANDOFF_REQUESTED": "A handoff was requested (`changes.automatic` when a stage's owner asked for it)",
    "BoardEventType.HANDOFF_RESOLVED": "A handoff was accepted, declined or cancelled",
    "BoardEventType.APPROVAL_REQUESTED": "An approval was requested",
    "BoardEventType.APPROVAL_DECIDED": "An approver approved or rejected",
    "BoardEventType.ALERT_RAISED": "Something waited too long: a pending handoff or approval step, an overdue task, a stale card",
    "BoardEventType.PIPELINE_UPDATED": "A pipeline or stage was changed",
    "BoardEventType.ACCESS_RULES_UPDATED": "An access rule changed",
    "BoardEventType.MONEY_SETTINGS_UPDATED": "The base currency or an exchange rate changed",
    "BoardEventType.APPROVAL_RETURNED": "An approval was returned (退回)",
    "BoardEventType.APPROVAL_RESUBMITTED": "A returned approval was resubmitted",
    "BoardEventType.APPROVAL_TRANSFERRED": "An approver handed their decision to a colleague (转交)",
    "BoardEventType.APPROVAL_SIGNER_ADDED": "A signer was added (加签)",
    "BoardEventType.APPROVAL_URGED": "An approval's approvers were urged (催办)",
    "BoardEventType.APPROVAL_SUPERSEDED": "An approved approval no longer matches the card",
    "BoardEventType.DELIVERABLE_CHECKED": "A deliverable was ticked or unticked",
    "BoardEventType.CONFIGURATION_CHANGED": "An administrator changed people, departments, tokens, webhooks or channels; only admins receive it",
    "BoardEventType.ACCOUNT_CREATED": "A customer was created with createAccount (`changes`: its fields)",
    "BoardEventType.ACCOUNT_UPDATED": "A customer's fields changed",
    "BoardEventType.ACCOUNT_MERGED": "A customer was merged into another (`changes.mergedFrom`: the source's name)",
    "BoardEventType.OWNERSHIP_CONFLICT_RAISED": "A card's customer has open deals of more than one owner (撞单)",
    "BoardEventType.OWNERSHIP_CONFLICT_RESOLVED": "A manager or admin resolved a customer's ownership conflict",
    "BoardEventType.CONTACT_LINKED": "A contact was put on the card or its role changed (`changes`: contact, role)",
    "BoardEventType.CONTACT_UNLINKED": "A contact was taken off the card (`changes`: contact, role)",
    "BoardEventType.FOLLOW_UP_LOGGED": "A follow-up was logged on the card (`changes`: followUp, kind, and lastContactAt, nextFollowUpAt when they changed)",
    "BoardEventType.ATTACHMENT_ADDED": "A file was attached to the card (`changes`: attachment, kind, name)",
    "BoardEventType.ATTACHMENT_REMOVED": "A file was removed from the card (`changes`: attachment, kind, name)",
    "BoardEventType.OPPORTUNITY_ASSIGNED": (
        "An assignment rule gave the card an owner (`changes`: owner [before, after] user row ids, rule [null, the rule's name])"),
    "BoardEventType.OPPORTUNITY_POOLED": (
        "The card went to the shared pool without anyone giving it back (`changes`: owner [before, the pool's holder], "
        "pool [null, department key], reason [null, NO_MATCH | AT_CAPACITY | NO_FOLLOW_UP])"),
    "BoardEventType.OPPORTUNITY_CLAIMED": "Someone took the card from the pool (`changes`: owner [the holder, the claimer], pool [department key, null])",
    "BoardEventType.OPPORTUNITY_RELEASED": (
        "Its owner (or their manager, or an admin) gave the card back to the pool (`changes`: owner [before, the pool's holder], "
        "pool [null, department key], reason [null, the reason given]); an OPPORTUNITY_ASSIGNED follows when a rule places it at once"),
    # Assignment rules, the shared pool (公海) and the fairness report (schema/assignment.py)
    "Query.assignmentRules": "The organization's assignment rules in the order they are tried (admins and managers; FORBIDDEN otherwise)",
    "Query.pool": (
        "Deals waiting in the shared pool (公海), newest first: a member sees their own department's pool, managers and admins every pool"),
    "Query.pool(departmentKey)": "Only this department's pool",
    "Query.assignmentReport": (
        "Fairness of distribution in a period: per owner and per rule, deals offered (assigned by a rule), claimed, won and lost, "
        "with open loads now and each rule's spread (admins and managers; FORBIDDEN otherwise)"),
    "Query.assignmentReport(from)": "Start of the period (inclusive, UTC)",
    "Query.assignmentReport(to)": "End of the period (exclusive, UTC); at most 366 days after `from`",
    "Mutation.setAssignmentRules": (
        "Admins: replace the assignment rules (tried in the order given; a rule keeps its round-robin position by name). "
        "Errors name the rule's index, e.g. field [\"rules\", \"2\", \"amountMin\"]"),
    "Mutation.claimOpportunity": (
        "Take a deal from the pool: the caller becomes its owner. LIMIT_EXCEEDED past the day's claims, COOLDOWN for a deal "
        "the caller gave back recently, INVALID_TRANSITION when it is not in the pool"),
    "Mutation.releaseOpportunity": (
        "Give a deal back to the pool with a reason (its owner, their manager or an admin); the first matching assignment rule "
        "may give it to someone else at once, otherwise it waits in the pool"),
    "Mutation.setStagePoolAfterDays": "Admins: after how many days without a follow-up a stage's open deals return to the pool",
    "AssignmentStrategy": "How a rule chooses among its people",
    "AssignmentStrategy.ROUND_ROBIN": "Each in turn (skipping anyone at the rule's capacity, when it has one)",
    "AssignmentStrategy.CAPACITY": "The least loaded below the capacity (open deals owned); ties go to whoever is next in turn",
    "AssignmentRule": "An ordered rule that gives new deals without an owner, imported rows with assign, and released deals an owner",
    "AssignmentRule.position": "Its place in the order (0 first); the first matching rule decides",
    "AssignmentRule.name": "Its name, unique in the organization; events and the report name rules by it",
    "AssignmentRule.strategy": "How it chooses among its people",
    "AssignmentRule.capacity": "At most this many open deals per person (null: no limit); everyone at it sends the deal to the pool",
    "AssignmentRule.regions": "Matches customers in one of these regions (case-insensitive); empty: any",
    "AssignmentRule.industries": "Matches customers in one of these industries (case-insensitive); empty: any",
    "AssignmentRule.tags": "Matches deals with any of these tags; empty: any",
    "AssignmentRule.sources": "Matches deals whose source is one of these (case-insensitive); a deal without a source does not match; empty: any",
    "AssignmentRule.amountMin": "Matches amounts at least this, in the base currency (converted by the newest rate; no rate or no amount: no match)",
    "AssignmentRule.amountMax": "Matches amounts at most this, in the base currency",
    "AssignmentRule.departmentKey": "Assigns to this department's active members and managers (by user id order); null when it names users",
    "AssignmentRule.userIds": "Assigns to these users, in this order; empty when it names a department",
    "AssignmentRule.users": "The named users who are still active",
    "AssignmentRuleInput": "One rule of setAssignmentRules: what it matches, whom it assigns to and how",
    "AssignmentRuleInput.name": "Unique among the rules (1 to 100 characters)",
    "AssignmentRuleInput.strategy": "How it chooses among its people",
    "AssignmentRuleInput.regions": "Customer regions it matches (any of them); omitted or empty: any",
    "AssignmentRuleInput.industries": "Customer industries it matches (any of them); omitted or empty: any",
    "AssignmentRuleInput.tags": "Deal tags it matches (any of them); omitted or empty: any",
    "AssignmentRuleInput.sources": "Deal sources it matches (any of them, 1 to 100 characters each); omitted or empty: any",
    "AssignmentRuleInput.amountMin": "Lowest amount it matches, in the base currency",
    "AssignmentRuleInput.amountMax": "Highest amount it matches, in the base currency (not below amountMin)",
    "AssignmentRuleInput.departmentKey": "Assign to this department's active members and managers (give this or userIds)",
    "AssignmentRuleInput.userIds": "Assign to these active users, in this order (give this or departmentKey)",
    "AssignmentRuleInput.capacity": "At most this many open deals per person (1 to 100000); required for CAPACITY",
    "SetAssignmentRulesInput": "The whole ordered list of rules (at most 50); an empty list removes them all",
    "SetAssignmentRulesInput.rules": "The rules in the order they are tried",
    "SetAssignmentRulesPayload": "The rules as saved",
    "SetAssignmentRulesPayload.assignmentRules": "The rules as saved, in order; empty when refused",
    "ClaimOpportunityInput": "The pooled deal to take",
    "ReleaseOpportunityInput": "The deal to give back and why",
    "ReleaseOpportunityInput.reason": "Why it is given back (required, up to 500 characters); kept in the event",
    "ReleaseOpportunityInput.version": "The card's version last read (CONFLICT when stale); omitted: not checked",
    "PoolPayload": "The deal after the claim or release",
    "PoolPayload.opportunity": "The deal as it is now; null when refused",
    "SetStagePoolAfterDaysInput": "A stage's automatic return to the pool",
    "SetStagePoolAfterDaysInput.stageId": "The stage",
    "SetStagePoolAfterDaysInput.days": "Days without a follow-up (1 to 3650) after which an open deal returns to the pool; null: never",
    "SetStagePoolAfterDaysPayload": "The stage after the change",
    "SetStagePoolAfterDaysPayload.stage": "The stage as it is now; null when refused",
    "Stage.poolAfterDays": (
        "An open deal without a follow-up for this many days in the stage returns to the pool (its owner is warned 24 hours before); "
        "null: never"),
    "Opportunity.inPool": "Whether the deal waits in the shared pool (公海); its owner is then the pool's holder (the department's manager or an admin)",
    "Opportunity.poolDepartment": "The department whose pool it waits in; null when not pooled",
    "AssignmentReport": "How evenly deals were distributed in a period (docs/administration.md explains each figure)",
    "AssignmentReport.from": "Start of the period (inclusive)",
    "AssignmentReport.to": "End of the period (exclusive)",
    "AssignmentReport.owners": "Per owner with any figure in the period or among a rule's people, by user id",
    "AssignmentReport.rules": "Per rule (current rules in order, then names only the log still has)",
    "AssignmentOwnerStats": "One person's figures",
    "AssignmentOwnerStats.user": "The person",
    "AssignmentOwnerStats.offered": "Deals a rule assigned to them in the period",
    "AssignmentOwnerStats.claimed": "Deals they claimed from the pool in the period",
    "AssignmentOwnerStats.won": "Deals won in the period while they owned them",
    "AssignmentOwnerStats.lost": "Deals lost in the period while they owned them",
    "AssignmentOwnerStats.openLoad": "Open deals they own now (not counting pooled deals they hold)",
    "AssignmentRuleStats": "One rule's figures; a deal's claim, win or loss counts for the rule that last assigned it",
    "AssignmentRuleStats.ruleName": "The rule's name",
    "AssignmentRuleStats.offered": "Deals the rule assigned in the period",
    "AssignmentRuleStats.claimed": "Claims in the period of deals the rule had last assigned",
    "AssignmentRuleStats.won": "Wins in the period of deals the rule had last assigned",
    "AssignmentRuleStats.lost": "Losses in the period of deals the rule had last assigned",
    "AssignmentRuleStats.people": "The rule's people now, with their figures under this rule and their open load",
    "AssignmentRuleStats.maxOpenLoad": "The highest open load among the rule's people; null without people",
    "AssignmentRuleStats.minOpenLoad": "The lowest open load among the rule's people; null without people",
    "AssignmentRuleStats.spread": "maxOpenLoad - minOpenLoad: 0 is perfectly even",
    # Settings: people and the first run (schema/settings_people.py)
    "OneTimeLinkKind.SETUP": "The first-run setup (completeSetup)",
    "OneTimeLinkKind.INVITE": "An invitation to join the organization (acceptInvite)",
    "OneTimeLinkKind.RESET": "A password reset an admin made (resetPassword)",
    "InviteStatus.PENDING": "Not used yet and not expired: the link works",
    "InviteStatus.ACCEPTED": "The invited person accepted it (the link is used up)",
    "InviteStatus.EXPIRED": "Not used before it expired (BATON_INVITE_TTL_HOURS, 7 days by default)",
    "InviteStatus.REVOKED": "Revoked by revokeInvite, or replaced by a newer invitation of the same email",
    "FieldChange.field": "The field's API name",
    "FieldChange.before": "The value before (null: unset)",
    "FieldChange.after": "The value after (null: unset)",
}

# A field name anywhere -> its description, when no entry above names the field.
BY_FIELD_NAME = {
    "createdAt": "When it was created (UTC)",
    "updatedAt": "When it last changed (UTC)",
}


def _mutations_of(schema: GraphQLSchema) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Input type -> mutations taking it; payload type -> mutations returning it."""
    takes: dict[str, list[str]] = {}
    returns: dict[str, list[str]] = {}
    for name, field in (schema.mutation_type.fields.items() if schema.mutation_type else ()):
        returns.setdefault(get_named_type(field.type).name, []).append(name)
        for arg in field.args.values():
            takes.setdefault(get_named_type(arg.type).name, []).append(name)
    return takes, returns


def _quoted(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _shape(schema: GraphQLSchema, type_name: str, field: str | None, arg: str | None, takes, returns, gtype=None) -> str | None:
    """A description from the shape of the schema, or None."""
    if arg is not None:
        if arg == "first":
            return FIRST
        if arg == "after" and field != "events" and field != "boardEvents":
            return AFTER
        if type_name == "Mutation" and arg == "input":
            return "What to change; see the input type's fields"
        return None
    if field is None:
        if type_name in returns:
            return f"The result of {_quoted(returns[type_name])}"
        if type_name in takes:
            return f"Input of {_quoted(takes[type_name])}"
        return None
    if field == "userErrors":
        return _USER_ERRORS
    if field == "id" and isinstance(gtype, GraphQLObjectType) and any(i.name == "Node" for i in gtype.interfaces):
        return _ID
    if field == "id" and isinstance(gtype, GraphQLInputObjectType):
        return "Global id of the object to act on"
    return BY_FIELD_NAME.get(field)


def describe(schema: GraphQLSchema) -> GraphQLSchema:
    """Fill in every missing description that DESCRIPTIONS or the shape rules know."""
    takes, returns = _mutations_of(schema)

    def pick(key, type_name, field=None, arg=None, gtype=None):
        return DESCRIPTIONS.get(key) or _shape(schema, type_name, field, arg, takes, returns, gtype)

    for name, gtype in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not gtype.description and (text := pick(name, name)):
            gtype.description = text
        if isinstance(gtype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, fdef in gtype.fields.items():
                if not fdef.description and (text := pick(f"{name}.{fname}", name, fname, gtype=gtype)):
                    fdef.description = text
                for aname, adef in getattr(fdef, "args", {}).items():
                    if not adef.description and (text := pick(f"{name}.{fname}({aname})", name, fname, aname)):
                        adef.description = text
        if isinstance(gtype, GraphQLEnumType):
            for vname, vdef in gtype.values.items():
                if not vdef.description and (text := DESCRIPTIONS.get(f"{name}.{vname}")):
                    vdef.description = text
    return schema


def known_keys(schema: GraphQLSchema) -> set[str]:
    """Every key DESCRIPTIONS could use for this schema (to catch stale entries)."""
    keys = set()
    for name, gtype in schema.type_map.items():
        keys.add(name)
        if isinstance(gtype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, fdef in gtype.fields.items():
                keys.add(f"{name}.{fname}")
                keys.update(f"{name}.{fname}({a})" for a in getattr(fdef, "args", {}))
        if isinstance(gtype, GraphQLEnumType):
            keys.update(f"{name}.{v}" for v in gtype.values)
    return keys
