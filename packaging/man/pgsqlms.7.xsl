<?xml version="1.0"?>
<!--
  Generates the pgsqlms(7) man page (troff, man macros) from the agent's OCF
  meta-data, ocf-metadata/pgsqlms.xml: the parameter and action texts exist only
  there. Only the sections that are not in the meta-data (examples, exit codes,
  troubleshooting, files, see also) are written here.

    xsltproc [stringparam date YYYY-MM-DD] packaging/man/pgsqlms.7.xsl ocf-metadata/pgsqlms.xml > pgsqlms.7

  (with two dashes before stringparam). Text taken from the XML is escaped for
  troff: backslash becomes \e, every "-" becomes "\-" (so options and paths can
  be copied from the rendered page), and each output line starts with "\&" so a
  leading "." or "'" is never read as a request. A blank line inside a longdesc
  starts a new paragraph; other line breaks are filled.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:strip-space elements="*"/>

  <!-- Page date, e.g. the release date; empty by default so builds are reproducible. -->
  <xsl:param name="date" select="''"/>

  <xsl:variable name="nl" select="'&#10;'"/>
  <xsl:variable name="agent" select="/resource-agent/@name"/>
  <xsl:variable name="version" select="/resource-agent/@version"/>

  <!-- ===================================================== helpers -->

  <!-- replace every occurrence of $from in $text by $to -->
  <xsl:template name="replace">
    <xsl:param name="text"/>
    <xsl:param name="from"/>
    <xsl:param name="to"/>
    <xsl:choose>
      <xsl:when test="contains($text, $from)">
        <xsl:value-of select="substring-before($text, $from)"/>
        <xsl:value-of select="$to"/>
        <xsl:call-template name="replace">
          <xsl:with-param name="text" select="substring-after($text, $from)"/>
          <xsl:with-param name="from" select="$from"/>
          <xsl:with-param name="to" select="$to"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$text"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- escape a piece of text for troff (no line handling) -->
  <xsl:template name="esc">
    <xsl:param name="text"/>
    <xsl:variable name="bs">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="$text"/>
        <xsl:with-param name="from" select="'\'"/>
        <xsl:with-param name="to" select="'\e'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:call-template name="replace">
      <xsl:with-param name="text" select="$bs"/>
      <xsl:with-param name="from" select="'-'"/>
      <xsl:with-param name="to" select="'\-'"/>
    </xsl:call-template>
  </xsl:template>

  <!--
    Emit a longdesc: one output line per non-blank input line (troff fills them),
    and $sep (".PP" or ".IP") between paragraphs (runs of blank lines).
  -->
  <xsl:template name="paragraphs">
    <xsl:param name="text"/>
    <xsl:param name="sep" select="'.PP'"/>
    <xsl:param name="started" select="false()"/>
    <xsl:param name="brk" select="false()"/>
    <xsl:if test="string-length($text) &gt; 0">
      <xsl:variable name="line">
        <xsl:choose>
          <xsl:when test="contains($text, $nl)">
            <xsl:value-of select="substring-before($text, $nl)"/>
          </xsl:when>
          <xsl:otherwise>
            <xsl:value-of select="$text"/>
          </xsl:otherwise>
        </xsl:choose>
      </xsl:variable>
      <xsl:variable name="rest" select="substring-after($text, $nl)"/>
      <xsl:variable name="clean" select="normalize-space($line)"/>
      <xsl:choose>
        <xsl:when test="$clean = ''">
          <xsl:call-template name="paragraphs">
            <xsl:with-param name="text" select="$rest"/>
            <xsl:with-param name="sep" select="$sep"/>
            <xsl:with-param name="started" select="$started"/>
            <xsl:with-param name="brk" select="$started"/>
          </xsl:call-template>
        </xsl:when>
        <xsl:otherwise>
          <xsl:if test="$started and $brk">
            <xsl:value-of select="concat($sep, $nl)"/>
          </xsl:if>
          <xsl:text>\&amp;</xsl:text>
          <xsl:call-template name="esc">
            <xsl:with-param name="text" select="$clean"/>
          </xsl:call-template>
          <xsl:value-of select="$nl"/>
          <xsl:call-template name="paragraphs">
            <xsl:with-param name="text" select="$rest"/>
            <xsl:with-param name="sep" select="$sep"/>
            <xsl:with-param name="started" select="true()"/>
            <xsl:with-param name="brk" select="false()"/>
          </xsl:call-template>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>

  <!-- ===================================================== page -->

  <xsl:template match="/resource-agent">
    <xsl:text>.\" Generated from ocf-metadata/</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text>.xml by packaging/man/pgsqlms.7.xsl; do not edit.&#10;</xsl:text>
    <xsl:text>.TH PGSQLMS 7 "</xsl:text>
    <xsl:value-of select="$date"/>
    <xsl:text>" "</xsl:text>
    <xsl:value-of select="concat($agent, ' ', $version)"/>
    <xsl:text>" "OCF resource agents"&#10;.nh&#10;</xsl:text>

    <!-- NAME -->
    <xsl:text>.SH NAME&#10;</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text> \- </xsl:text>
    <xsl:call-template name="esc">
      <xsl:with-param name="text" select="normalize-space(shortdesc)"/>
    </xsl:call-template>
    <xsl:text> (Pacemaker OCF resource agent ocf:rust:</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text>)&#10;</xsl:text>

    <!-- SYNOPSIS -->
    <xsl:text>.SH SYNOPSIS&#10;</xsl:text>
    <xsl:text>[\fBOCF_RESKEY_\fR\fIparameter\fR=\fIvalue\fR ...]&#10;</xsl:text>
    <xsl:text>\fB/usr/lib/ocf/resource.d/rust/</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text>\fR \fIaction\fR&#10;.br&#10;</xsl:text>
    <xsl:text>\fB/usr/lib/ocf/resource.d/rust/</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text>\fR \fB\-\-help\fR | \fB\-\-version\fR&#10;</xsl:text>
    <xsl:text>.PP&#10;where \fIaction\fR is one of </xsl:text>
    <xsl:for-each select="actions/action[not(@name = preceding-sibling::action/@name)]">
      <xsl:if test="position() &gt; 1">, </xsl:if>
      <xsl:text>\fB</xsl:text>
      <xsl:call-template name="esc">
        <xsl:with-param name="text" select="@name"/>
      </xsl:call-template>
      <xsl:text>\fR</xsl:text>
    </xsl:for-each>
    <xsl:text> (see \fBACTIONS\fR).&#10;</xsl:text>
    <xsl:text>Pacemaker runs the agent as \fBocf:rust:</xsl:text>
    <xsl:value-of select="$agent"/>
    <xsl:text>\fR; administrators do not normally run it by hand, except for&#10;</xsl:text>
    <xsl:text>\fBmeta\-data\fR and, through \fBcrm_resource \-\-validate\fR, \fBvalidate\-all\fR.&#10;</xsl:text>

    <!-- DESCRIPTION -->
    <xsl:text>.SH DESCRIPTION&#10;</xsl:text>
    <xsl:call-template name="paragraphs">
      <xsl:with-param name="text" select="longdesc"/>
    </xsl:call-template>
    <xsl:text>.PP&#10;</xsl:text>
    <xsl:text>Every standby's \fBprimary_conninfo\fR must contain \fBapplication_name=\fR\fInode\fR, where&#10;</xsl:text>
    <xsl:text>\fInode\fR is the Pacemaker node name (as printed by \fBcrm_node \-n\fR), and&#10;</xsl:text>
    <xsl:text>\fBrecovery_target_timeline\fR must be \fBlatest\fR; both live in postgresql.conf&#10;</xsl:text>
    <xsl:text>(PostgreSQL 12 and later). Promotion scores are transient node attributes (lifetime&#10;</xsl:text>
    <xsl:text>reboot) written with \fBcrm_attribute \-\-promotion\fR.&#10;</xsl:text>

    <!-- PARAMETERS -->
    <xsl:text>.SH PARAMETERS&#10;</xsl:text>
    <xsl:text>Parameters are set as resource instance attributes; the agent reads them from the&#10;</xsl:text>
    <xsl:text>environment as \fBOCF_RESKEY_\fR\fIname\fR. All are optional.&#10;</xsl:text>
    <xsl:apply-templates select="parameters/parameter"/>

    <!-- ACTIONS -->
    <xsl:text>.SH ACTIONS&#10;</xsl:text>
    <xsl:text>The timeouts and intervals below are the defaults advertised in the meta\-data;&#10;</xsl:text>
    <xsl:text>configure operations with at least these timeouts.&#10;</xsl:text>
    <xsl:apply-templates select="actions/action"/>

    <!-- EXIT STATUS -->
    <xsl:text><![CDATA[.SH EXIT STATUS
OCF return codes. Every non\-zero result also prints one
\fBocf\-exit\-reason:\fR\fItext\fR line on standard error, which Pacemaker shows in
\fBcrm_mon\fR and \fBpcs status\fR output.
.TP
.B 0
success; for monitor: running as a standby (Unpromoted)
.TP
.B 1
generic error
.TP
.B 2
invalid argument (bad parameter value)
.TP
.B 3
unimplemented action
.TP
.B 5
not installed (binaries, user or directories missing on this node)
.TP
.B 6
not configured (resource or PostgreSQL configuration is wrong; Pacemaker stops
the resource everywhere)
.TP
.B 7
not running
.TP
.B 8
running as the primary (Promoted)
.TP
.B 9
failed primary
]]></xsl:text>

    <!-- EXAMPLES -->
    <xsl:text><![CDATA[.SH EXAMPLES
A promotable clone for PostgreSQL 15 in Debian's layout, with the defaults
for the other parameters:
.PP
.nf
.RS 2
pcs resource create pgsqld ocf:rust:pgsqlms \e
    bindir=/usr/lib/postgresql/15/bin \e
    pgdata=/etc/postgresql/15/main \e
    datadir=/var/lib/postgresql/15/main \e
    op start timeout=60s op stop timeout=60s \e
    op promote timeout=30s op demote timeout=120s \e
    op monitor interval=15s timeout=10s role=Promoted \e
    op monitor interval=16s timeout=10s role=Unpromoted \e
    op notify timeout=60s \e
    promotable notify=true promoted\-max=1
.RE
.fi
.PP
Check a configuration on the local node without a running cluster:
.PP
.nf
.RS 2
crm_resource \-\-validate \-\-class ocf \-\-provider rust \-\-agent pgsqlms \e
    \-\-option bindir=/usr/lib/postgresql/15/bin \e
    \-\-option pgdata=/etc/postgresql/15/main \e
    \-\-option datadir=/var/lib/postgresql/15/main
.RE
.fi
.SH TROUBLESHOOTING
Read the exit reason first (\fBcrm_mon \-1rf\fR, \fBpcs status \-\-full\fR), then the
agent's log lines (syslog, facility daemon by default; set \fBHA_debug=1\fR for debug
lines). Each exit reason ends with the fix. Once the cause is fixed, clear the failure
with \fBcrm_resource \-\-cleanup \-\-resource\fR \fIname\fR. Typical causes:
.TP
.B not installed (5): system user, directories, version, binaries
\fIsystem_user\fR, \fIpgdata\fR or \fIdatadir\fR (with its PG_VERSION) does not
exist on that node, PostgreSQL is older than 12, or \fIbindir\fR lacks postgres,
pg_controldata or pg_waldump. Pacemaker keeps the resource off that node. A
probe on a node without the data directory only reports "not running", so nodes
meant never to run PostgreSQL need no special handling.
.TP
.B invalid argument (2): this node's PostgreSQL configuration
\fIrecovery_template\fR exists (a PAF leftover: move its settings into
postgresql.conf and delete it); \fBrecovery_target_timeline\fR is not
\fBlatest\fR; \fBhot_standby\fR is off; \fBprimary_conninfo\fR lacks
\fBapplication_name=\fR\fInode\fR with the exact Pacemaker node name
(\fBcrm_node \-n\fR); \fBwal_level\fR is minimal; or \fBpostgres \-C\fR fails on
postgresql.conf or \fIstart_opts\fR.
.TP
.B not configured (6): resource definition
\fIpgport\fR or \fImaxlag\fR is malformed, or the clone lacks \fBnotify=true\fR,
\fBpromoted\-max=1\fR (older name: master\-max) or \fBclone\-node\-max=1\fR.
Pacemaker stops the resource everywhere. The meta attribute checks only run
inside the cluster, not under \fBcrm_resource \-\-validate\fR.
.TP
.B refusing to start (crashed former primary)
The control data says the instance was a primary that was not shut down
cleanly; it may hold WAL the current primary never got, so the agent will not
start it as a standby. Rebuild it from the current primary (pg_basebackup or
pg_rewind), then run the \fBcrm_resource \-\-cleanup\fR command the message
quotes.
.TP
.B cannot query the instance
\fIpghost\fR/\fIpgport\fR do not match unix_socket_directories/port,
max_connections is exhausted, or the role named \fIsystem_user\fR has no local
peer or trust access in pg_hba.conf.
.TP
.B promotion handed over to another node
Not a fault: another standby received or replayed more WAL than the node
Pacemaker chose. The agent moves the promotion scores and Pacemaker promotes
the better standby in the next transition.
.TP
.B switchover cancelled
The designated standby did not receive the old primary's shutdown checkpoint;
promoting it could lose committed transactions. Check its replication, then
retry.
.TP
.B no primary (node attribute headless\-\fIresource\fB in crm_mon \-A)
Not a failure of the monitor: a running standby found the cluster without a
promoted instance and without a node Pacemaker could promote. The most advanced
running standby takes a promotion score by itself; the attribute says which
node, what it waits for, or why none is promoted (with \fImaxlag\fR set, no
standby within maxlag of the last primary position known to the cluster). To
accept that loss, set \fImaxlag\fR to 0 or promote a standby by hand.
.TP
.B timeouts
Check the PostgreSQL log; raise the operation timeouts if recovery, promotion
or shutdown take longer than the defaults above.
.SH FILES
.TP
.I /usr/lib/ocf/resource.d/rust/pgsqlms
the agent (a static executable).
.TP
.I /usr/share/pgsqlms/pgsqlms.xml
a copy of the OCF meta\-data the agent prints with \fBmeta\-data\fR, for reference.
.TP
.I /run/resource\-agents/pgsqlms\-\fRresource\fI.state
cached promotion scores (directory \fBHA_RSCTMP\fR); beside it \fB.primary\fR
(promotion time and lost standbys, for the grace periods) and \fB.headless\fR
(a standby's last report about a cluster without a primary).
.SH SEE ALSO
.BR pcs (8),
.BR crm (8),
.BR crm_resource (8),
.BR crm_attribute (8),
.BR attrd_updater (8),
.BR crm_mon (8),
.BR pg_ctl (1),
.BR pg_controldata (1),
.BR pg_basebackup (1),
.BR pg_rewind (1)
.PP
/usr/share/doc/pgsqlms/README.md
]]></xsl:text>
  </xsl:template>

  <xsl:template match="parameter">
    <xsl:text>.TP&#10;\fB</xsl:text>
    <xsl:call-template name="esc">
      <xsl:with-param name="text" select="@name"/>
    </xsl:call-template>
    <xsl:text>\fR (</xsl:text>
    <xsl:value-of select="content/@type"/>
    <xsl:text>, default: </xsl:text>
    <xsl:choose>
      <xsl:when test="string(content/@default) = ''">
        <xsl:text>empty</xsl:text>
      </xsl:when>
      <xsl:otherwise>
        <xsl:text>\fB</xsl:text>
        <xsl:call-template name="esc">
          <xsl:with-param name="text" select="content/@default"/>
        </xsl:call-template>
        <xsl:text>\fR</xsl:text>
      </xsl:otherwise>
    </xsl:choose>
    <xsl:if test="@required = '1' or @required = 'true'">
      <xsl:text>, required</xsl:text>
    </xsl:if>
    <xsl:if test="@unique = '1' or @unique = 'true'">
      <xsl:text>, unique</xsl:text>
    </xsl:if>
    <xsl:text>)&#10;\&amp;\fI</xsl:text>
    <xsl:call-template name="esc">
      <xsl:with-param name="text" select="normalize-space(shortdesc)"/>
    </xsl:call-template>
    <xsl:text>.\fR&#10;.br&#10;</xsl:text>
    <xsl:call-template name="paragraphs">
      <xsl:with-param name="text" select="longdesc"/>
      <xsl:with-param name="sep" select="'.IP'"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template match="action">
    <xsl:text>.TP&#10;\fB</xsl:text>
    <xsl:call-template name="esc">
      <xsl:with-param name="text" select="@name"/>
    </xsl:call-template>
    <xsl:text>\fR</xsl:text>
    <xsl:if test="@role">
      <xsl:text> (role </xsl:text>
      <xsl:value-of select="@role"/>
      <xsl:text>)</xsl:text>
    </xsl:if>
    <xsl:text>&#10;</xsl:text>
    <xsl:if test="@timeout">
      <xsl:text>timeout \fB</xsl:text>
      <xsl:value-of select="@timeout"/>
      <xsl:text>\fR</xsl:text>
    </xsl:if>
    <xsl:if test="@interval">
      <xsl:text>, interval \fB</xsl:text>
      <xsl:value-of select="@interval"/>
      <xsl:text>\fR</xsl:text>
    </xsl:if>
    <xsl:text>.&#10;.br&#10;</xsl:text>
    <xsl:choose>
      <xsl:when test="@name = 'start'">Starts the instance, always as a standby (standby.signal); refuses a former primary that crashed, since its WAL may have diverged.</xsl:when>
      <xsl:when test="@name = 'stop'">Fast shutdown. A standby that does not stop in time is stopped immediately; a primary is not (fencing is the escalation).</xsl:when>
      <xsl:when test="@name = 'reload'">Applies changed non\-unique parameters without restarting PostgreSQL (the agent reads them at every action).</xsl:when>
      <xsl:when test="@name = 'promote'">Promotes the local standby, unless another candidate holds more WAL (the promotion is then handed over to it) or a switchover was found unsafe.</xsl:when>
      <xsl:when test="@name = 'demote'">A fast stop, then a start as a standby; the shutdown checkpoint reaches the standbys, which lets the next promotion prove a switchover lost nothing.</xsl:when>
      <xsl:when test="@name = 'monitor' and @role = 'Promoted'">Checks the primary and keeps every node's promotion score up to date (one socket connection, no child process, when healthy).</xsl:when>
      <xsl:when test="@name = 'monitor'">Checks the standby; a monitor with interval 0 is a probe. A standby whose WAL receiver does not stream checks that the cluster has a primary, and recovers a cluster without one.</xsl:when>
      <xsl:when test="@name = 'notify'">Pre\-promote: each standby publishes its WAL position for the election, and a switchover's target checks it received the old primary's shutdown checkpoint. Also post\-promote cleanup and in\-place recovery of a crashed primary.</xsl:when>
      <xsl:when test="@name = 'meta-data'">Prints the OCF meta\-data (the source of this page).</xsl:when>
      <xsl:when test="@name = 'validate-all'">Checks the parameters and the local PostgreSQL configuration.</xsl:when>
      <xsl:when test="@name = 'methods'">Lists the supported actions.</xsl:when>
    </xsl:choose>
    <xsl:text>&#10;</xsl:text>
  </xsl:template>
</xsl:stylesheet>
