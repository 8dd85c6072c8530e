// GraphQL documents used by the board.

export const CARD = `
fragment Card on Opportunity {
  id title amount currency priority tags version probability expectedCloseDate nextStep lostReason hiddenFields
  viewerCanMove viewerCanUpdate
  lastActivityAt stageEnteredAt updatedAt openTaskCount overdueTaskCount lastContactAt lastContactKind nextFollowUpAt customerSilent
  inPool stuckReason stuckSince
  account { id name }
  owner { id name handle }
  department { id key name }
  stage { id key name kind owner { department { key name } } }
  checklist { key title done departmentKey }
  handoffs { id status createdAt fromDepartment { key name } toDepartment { key name } }
  approvalsNeeded
  approvals { id kind status createdAt urgeCount steps { position status openedAt decidedAt department { key name } } }
}`;

// An approval as the drawer and the queues show it: steps, who did what, and what the viewer may do.
const DECISION = 'action comment at user { name } targetUser { name }';
const APPROVAL = `id kind mode status createdAt decidedAt comment urgeCount viewerCanDecide viewerCanUrge viewerIsRequester
  requestedBy { id name department { key name } }
  changes { field before after }
  decisions { ${DECISION} }
  steps { position status mode minApprovals role amountAtLeast dueAt urgedAt openedAt decidedAt comment
    department { key name } decidedBy { id name } approvers { id name } approvedBy { id name } decisions { ${DECISION} } }`;

// Deliverables name what a refused move lacks (`deliverable:<stage>.<key>`) in the gate dialog.
const STAGE = `id key name position kind requiredFields requiredApprovals requiredFiles staleAfterHours autoApproval requirePreviousDeliverables
  owner { department { key name } } deliverables { key title department { key name } }`;

export const BOOT = `
query Boot {
  baseCurrency
  viewer { id name email handle role department { id key name } }
  departments { id key name }
  users { id name handle email role department { key name } }
  pipelines { id name stages { ${STAGE} } }
}`;

export const BOARD = `
query Board($filter: OpportunityFilter) {
  board(filter: $filter) {
    pipeline { id name }
    columns {
      stage { ${STAGE} }
      totalCount totalAmount hiddenAmountCount
      totals { amount currency } baseTotal { amount currency rateDate missingRates }
      opportunities(first: 200) { edges { node { ...Card } } }
    }
  }
}
${CARD}`;

export const CARD_BY_ID = `query CardById($id: ID!) { node(id: $id) { ...Card } } ${CARD}`;

// What live events changed: those cards, as the board's filter sees them (a card missing
// from the answer left the board), and every column's figures, in one small request instead
// of the whole board (docs/api.md, "How a board applies events").
export const BOARD_CHANGES = `
query BoardChanges($filter: OpportunityFilter, $changed: OpportunityFilter!) {
  opportunities(filter: $changed, first: 100) { edges { node { ...Card } } }
  board(filter: $filter) {
    columns {
      stage { key }
      totalCount totalAmount hiddenAmountCount
      totals { amount currency } baseTotal { amount currency rateDate missingRates }
    }
  }
}
${CARD}`;

export const DETAIL = `
query Detail($id: ID!) {
  node(id: $id) {
    ...Card
    ... on Opportunity {
      createdAt forecastCategory source poolDepartment { key name }
      account { industry region }
      tasks(first: 100) { edges { node { id title description status dueAt completedAt overdue version
        assignee { id name } department { key name } } } }
      comments(first: 100) { edges { node { id body createdAt author { id name handle } mentions { id handle } } } }
      handoffs { id status note responseNote createdAt respondedAt
        fromDepartment { key name } toDepartment { key name } requestedBy { id name } assignee { id name } }
      approvals { ${APPROVAL} }
      checklist { key title field done doneAt doneBy { name } department { key name } }
      stageTimes { stageKey hours departments { hours department { key name } } }
      history(first: 60) { edges { node { seq type occurredAt changes actor { id name } } } }
    }
  }
}
${CARD}`;

// The drawer's customer tab (drawer_records.js). Files are asked for apart: an error there leaves the rest shown.
const CONTACT = 'id name title phone email wechat';
const FOLLOW_UP = 'id kind at summary outcome nextStep nextFollowUpAt author { id name } contact { id name }';
export const RECORDS = `
query Records($id: ID!, $first: Int) {
  node(id: $id) { ... on Opportunity { id lastContactAt nextFollowUpAt
    account { id name industry region website tags owner { id name } contacts { ${CONTACT} } }
    contacts { role contact { ${CONTACT} } }
    followUps(first: $first) { edges { node { ${FOLLOW_UP} } } pageInfo { hasNextPage } } } }
}`;
const ATTACHMENT = 'id kind name contentType size createdAt downloadUrl uploadedBy { id name }';
export const FILES = `query Files($id: ID!) { node(id: $id) { ... on Opportunity { id attachments { ${ATTACHMENT} } } } }`;

export const LOGIN = `
mutation Login($input: LoginInput!) {
  login(input: $input) { token user { id name } userErrors { field code message } }
}`;

const ERR = 'userErrors { field code message }';

export const MOVE = `mutation Move($input: MoveOpportunityInput!) { moveOpportunity(input: $input) { opportunity { ...Card } ${ERR} } } ${CARD}`;
export const UPDATE = `mutation Update($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) { opportunity { ...Card } ${ERR} } } ${CARD}`;
export const CREATE_OPP = `mutation Create($input: CreateOpportunityInput!) { createOpportunity(input: $input) { opportunity { ...Card } ${ERR} } } ${CARD}`;
export const CREATE_TASK = `mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) { task { id } ${ERR} } }`;
export const UPDATE_TASK = `mutation UpdateTask($input: UpdateTaskInput!) { updateTask(input: $input) { task { id status version } ${ERR} } }`;
export const ADD_COMMENT = `mutation AddComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } ${ERR} } }`;
export const REQUEST_HANDOFF = `mutation RequestHandoff($input: RequestHandoffInput!) { requestHandoff(input: $input) { handoff { id status } ${ERR} } }`;
export const RESPOND_HANDOFF = `mutation RespondHandoff($input: RespondHandoffInput!) { respondHandoff(input: $input) { handoff { id status } ${ERR} } }`;
export const REQUEST_APPROVAL = `mutation RequestApproval($input: RequestApprovalInput!) { requestApproval(input: $input) { approval { id status } ${ERR} } }`;
export const DECIDE_APPROVAL = `mutation DecideApproval($input: DecideApprovalInput!) { decideApproval(input: $input) { approval { id status steps { position status } } ${ERR} } }`;
const APPROVAL_DONE = `approval { id status } ${ERR}`;
export const RETURN_APPROVAL = `mutation ReturnApproval($input: ReturnApprovalInput!) { returnApproval(input: $input) { ${APPROVAL_DONE} } }`;
export const RESUBMIT_APPROVAL = `mutation ResubmitApproval($input: ResubmitApprovalInput!) { resubmitApproval(input: $input) { ${APPROVAL_DONE} } }`;
export const TRANSFER_APPROVAL = `mutation TransferApprovalStep($input: TransferApprovalStepInput!) { transferApprovalStep(input: $input) { ${APPROVAL_DONE} } }`;
export const ADD_APPROVAL_SIGNER = `mutation AddApprovalSigner($input: AddApprovalSignerInput!) { addApprovalSigner(input: $input) { ${APPROVAL_DONE} } }`;
export const URGE_APPROVAL = `mutation UrgeApproval($input: UrgeApprovalInput!) { urgeApproval(input: $input) { ${APPROVAL_DONE} } }`;
export const CANCEL_APPROVAL = `mutation CancelApproval($input: CancelApprovalInput!) { cancelApproval(input: $input) { ${APPROVAL_DONE} } }`;
export const CHECK_DELIVERABLE = `mutation CheckDeliverable($input: CheckDeliverableInput!) { checkDeliverable(input: $input) { opportunity { ...Card } ${ERR} } } ${CARD}`;
export const LOG_FOLLOW_UP = `mutation LogFollowUp($input: LogFollowUpInput!) { logFollowUp(input: $input) { followUp { id } ${ERR} } }`;
export const CREATE_CONTACT = `mutation CreateContact($input: CreateContactInput!) { createContact(input: $input) { contact { id name } ${ERR} } }`;
export const LINK_CONTACT = `mutation LinkContact($input: LinkContactInput!) { linkContact(input: $input) { opportunity { id } ${ERR} } }`;
export const ATTACH_FILE = `mutation AttachFile($input: AttachFileInput!) { attachFile(input: $input) { attachment { id name } ${ERR} } }`;
export const REMOVE_ATTACHMENT = `mutation RemoveAttachment($input: RemoveAttachmentInput!) { removeAttachment(input: $input) { opportunity { id } ${ERR} } }`;
export const EXPORT_LINK = `mutation ExportLink($input: CreateExportLinkInput!) { createExportLink(input: $input) { url expiresAt ${ERR} } }`;
export const MARK_READ = `mutation MarkRead($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { unreadCount ${ERR} } }`;

export const LOG_HEAD = `query LogHead { events(first: 1) { headSeq } }`;

// What a queue lists; the approvals it shows are then read in full (lensApprovals): all of them in full would
// exceed the query cost limit. `viewer` keeps this query out of the shared result cache: viewerCanDecide differs per person.
export const LENS = `
query Lens($dept: String!) {
  viewer { id }
  opportunities(first: 500) { edges { node { ...Card
    ... on Opportunity {
      handoffs { id status note createdAt fromDepartment { key name } toDepartment { key name } requestedBy { name } }
      approvals { id status viewerCanDecide requestedBy { department { key } } steps { position status openedAt department { key } } }
    } } } }
  tasks(departmentKey: $dept, status: [OPEN, IN_PROGRESS], first: 200) { edges { node {
    id title status dueAt overdue version assignee { id name } opportunity { id title account { name } } } } }
}
${CARD}`;

/** Up to LENS_APPROVALS_MAX approvals by id ($a0, $a1, …), in full. */
export const LENS_APPROVALS_MAX = 25;
export function lensApprovals(count) {
  const n = [...Array(count).keys()];
  return `query LensApprovals(${n.map((i) => `$a${i}: ID!`).join(', ')}) { ${n.map((i) => `a${i}: node(id: $a${i}) { ...Full }`).join(' ')} }
fragment Full on Approval { ${APPROVAL} }`;
}

export const NOTIFICATIONS = `
query Notifications { notifications(first: 50) { unreadCount totalCount edges { node {
  id kind message read createdAt opportunity { id title } } } } }`;

export const UNREAD = `query Unread { notifications(unreadOnly: true, first: 1) { unreadCount } }`;

// Money comes per currency (never added together) and converted into the base currency at dated rates.
const TOTALS = 'amount currency';
const CONVERTED = 'amount currency rateDate missingRates';

export const ANALYTICS = `
query Analytics { baseCurrency analytics {
  funnel { stage { key name kind position } entered current hiddenAmountCount conversionToNext medianHoursInStage
    totals { ${TOTALS} } baseTotal { ${CONVERTED} } }
  winRate medianCycleDays lossReasonCounts { reason count } medianHandoffResponseHours medianApprovalHours
  totals { ${TOTALS} } baseTotal { ${CONVERTED} } openTotals { ${TOTALS} } openBaseTotal { ${CONVERTED} }
  wonTotals { ${TOTALS} } wonBaseTotal { ${CONVERTED} } } }`;

// Exchange rates into the base currency; the cards' currencies without one (as the analytics' total sees them).
const RATE = 'currency baseCurrency rate date updatedAt setBy { name }';
export const RATES = `query Rates { baseCurrency exchangeRates { ${RATE} } analytics { baseTotal { missingRates } } }`;
export const SET_EXCHANGE_RATE = `mutation SetExchangeRate($input: SetExchangeRateInput!) {
  setExchangeRate(input: $input) { exchangeRate { ${RATE} } ${ERR} } }`;
export const SET_BASE_CURRENCY = `mutation SetBaseCurrency($input: SetBaseCurrencyInput!) { setBaseCurrency(input: $input) { baseCurrency ${ERR} } }`;

export const BOARD_EVENTS = `
subscription BoardEvents($after: Int) {
  boardEvents(after: $after) { seq type occurredAt departmentKeys changes actor { id name }
    opportunity { id title stage { name } }
    task { id opportunity { id title } } comment { id opportunity { id title } }
    handoff { id opportunity { id title } } approval { id opportunity { id title } } }
}`;

export const NOTIFICATION_ADDED = `
subscription NotificationAdded { notificationAdded { id kind message read createdAt opportunity { id title } } }`;

// The user's language and the organization's time zone, as the server resolves them.
export const LOCALE = 'query Locale { localeSettings { locale timeZone supported } }';
export const SET_LOCALE = `mutation SetMyLocale($locale: String!) { setMyLocale(input: {locale: $locale}) { user { id locale } ${ERR} } }`;

// Planning (docs/api.md "Planning", "Assignment rules and the pool").
const POOL_CARD = 'id title amount currency version lastContactAt owner { name } poolDepartment { key name } stage { name } account { name }';
export const POOL = `query Pool($dept: String, $first: Int, $after: String) { pool(departmentKey: $dept, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { ${POOL_CARD} } } } }`;
export const CLAIM = `mutation Claim($input: ClaimOpportunityInput!) { claimOpportunity(input: $input) { opportunity { id owner { name } inPool version } ${ERR} } }`;
export const RELEASE = `mutation Release($input: ReleaseOpportunityInput!) { releaseOpportunity(input: $input) { opportunity { id inPool version } ${ERR} } }`;
export const SET_FORECAST_CATEGORY = `mutation SetForecastCategory($input: SetForecastCategoryInput!) {
  setForecastCategory(input: $input) { opportunity { id version forecastCategory } ${ERR} } }`;
const TARGET = `scope period wonAmountTarget wonAmount wonCount wonAttainment newQualifiedTarget newQualifiedCount qualifiedAttainment
  hiddenAmountCount owner { id name } department { key name }`;
export const TARGETS = `query Targets($period: String!) { baseCurrency targets(period: $period) { ${TARGET} } }`;
export const SET_TARGET = `mutation SetTarget($input: SetTargetInput!) { setTarget(input: $input) { target { ${TARGET} } ${ERR} } }`;
const SPREAD = 'count medianHours p90Hours';
export const PLANNING = `query Planning($from: DateTime!, $to: DateTime!, $fromDay: Date, $toDay: Date) {
  collaboration(from: $from, to: $to) { department { key name } dealCount batonTotalHours
    handoffResponse { ${SPREAD} } approvalTurnaround { ${SPREAD} } batonHours { ${SPREAD} } }
  forecast(groupBy: ORGANIZATION, from: $fromDay, to: $toDay) { baseCurrency weightedAmount weightedAmountWeekAgo movedSinceLastWeek
    unscheduledCount hiddenAmountCount missingRates
    rows { month category count amount weightedAmount movedSinceLastWeek } } }`;
export const ASSIGNMENT_REPORT = `query AssignmentReport($from: DateTime!, $to: DateTime!) { assignmentReport(from: $from, to: $to) {
  owners { user { id name } offered claimed won lost openLoad }
  rules { ruleName offered claimed won lost maxOpenLoad minOpenLoad spread } } }`;
